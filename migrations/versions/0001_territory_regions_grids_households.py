"""Territory: regions, tiered grid cells and households, with GiST indexes.

Households are keyed (county_code, id) so the table can later be distributed by
county (Citus); regions and grids are small reference tables.

Revision ID: 0001_territory
Revises:
Create Date: 2026-11-28 13:06:18.603459

"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0001_territory'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.execute('create extension if not exists postgis')
    op.create_table('regions',
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('level', sa.String(length=10), nullable=False),
    sa.Column('parent_code', sa.String(length=12), nullable=True),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('boundary', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('households', sa.Integer(), server_default='0', nullable=False),
    sa.Column('grids', sa.Integer(), server_default='0', nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]{12}$'", name=op.f('ck_regions_code_format')),
    sa.CheckConstraint("level in ('city', 'county', 'township', 'village')", name=op.f('ck_regions_level')),
    sa.ForeignKeyConstraint(['parent_code'], ['regions.code'], name=op.f('fk_regions_parent_code_regions')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_regions'))
    )
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.create_index('ix_regions_boundary', ['boundary'], unique=False, postgresql_using='gist')
        batch_op.create_index('ix_regions_level_code', ['level', 'code'], unique=False)
        batch_op.create_index(batch_op.f('ix_regions_parent_code'), ['parent_code'], unique=False)

    op.create_table('grids',
    sa.Column('code', sa.String(length=18), nullable=False),
    sa.Column('tier', sa.SmallInteger(), nullable=False),
    sa.Column('parent_code', sa.String(length=18), nullable=True),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('boundary', Geometry(geometry_type='MULTIPOLYGON', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('households', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[0-9]{12}-[0-9]{2}-[0-9]{2}$'", name=op.f('ck_grids_code_format')),
    sa.CheckConstraint('tier between 1 and 3', name=op.f('ck_grids_tier')),
    sa.ForeignKeyConstraint(['parent_code'], ['grids.code'], name=op.f('fk_grids_parent_code_grids')),
    sa.ForeignKeyConstraint(['village_code'], ['regions.code'], name=op.f('fk_grids_village_code_regions')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_grids'))
    )
    with op.batch_alter_table('grids', schema=None) as batch_op:
        batch_op.create_index('ix_grids_boundary', ['boundary'], unique=False, postgresql_using='gist')
        batch_op.create_index(batch_op.f('ix_grids_parent_code'), ['parent_code'], unique=False)
        batch_op.create_index('ix_grids_tier_code', ['tier', 'code'], unique=False)
        batch_op.create_index('ix_grids_village_code', ['village_code'], unique=False, postgresql_ops={'village_code': 'varchar_pattern_ops'})

    op.create_table('households',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('grid_code', sa.String(length=18), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('residents', sa.SmallInteger(), server_default='1', nullable=False),
    sa.Column('tags', postgresql.ARRAY(sa.String(length=20)), server_default='{}', nullable=False),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('residents between 0 and 100', name=op.f('ck_households_residents')),
    sa.ForeignKeyConstraint(['grid_code'], ['grids.code'], name=op.f('fk_households_grid_code_grids')),
    sa.PrimaryKeyConstraint('county_code', 'id', name=op.f('pk_households'))
    )
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.create_index('ix_households_grid_code', ['grid_code'], unique=False)
        batch_op.create_index('ix_households_id', ['id'], unique=False)
        batch_op.create_index('ix_households_location', ['location'], unique=False, postgresql_using='gist')
        batch_op.create_index('ix_households_village_code', ['village_code'], unique=False, postgresql_ops={'village_code': 'varchar_pattern_ops'})



def downgrade():
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.drop_index('ix_households_village_code', postgresql_ops={'village_code': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_households_location', postgresql_using='gist')
        batch_op.drop_index('ix_households_id')
        batch_op.drop_index('ix_households_grid_code')

    op.drop_table('households')
    with op.batch_alter_table('grids', schema=None) as batch_op:
        batch_op.drop_index('ix_grids_village_code', postgresql_ops={'village_code': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_grids_tier_code')
        batch_op.drop_index(batch_op.f('ix_grids_parent_code'))
        batch_op.drop_index('ix_grids_boundary', postgresql_using='gist')

    op.drop_table('grids')
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_regions_parent_code'))
        batch_op.drop_index('ix_regions_level_code')
        batch_op.drop_index('ix_regions_boundary', postgresql_using='gist')

    op.drop_table('regions')

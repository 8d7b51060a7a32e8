"""Accounts and people: members (phones encrypted), users with role and scope, audit log.

Revision ID: 0002_accounts
Revises: 0001_territory
Create Date: 2026-11-28 13:13:07.085976

"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0002_accounts'
down_revision = '0001_territory'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_log',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=True),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('object_type', sa.String(length=32), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_object', ['object_type', 'object_id'], unique=False)
        batch_op.create_index('ix_audit_log_region_code_at', ['region_code', 'at'], unique=False, postgresql_ops={'region_code': 'varchar_pattern_ops'})

    op.create_table('members',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('phone_encrypted', sa.LargeBinary(), nullable=True),
    sa.Column('phone_hash', sa.String(length=64), nullable=True),
    sa.Column('phone_masked', sa.String(length=16), nullable=True),
    sa.Column('home', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind in ('village_secretary', 'village_cadre', 'township_cadre', 'party_member', 'grid_worker')", name=op.f('ck_members_kind')),
    sa.ForeignKeyConstraint(['village_code'], ['regions.code'], name=op.f('fk_members_village_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members'))
    )
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.create_index('ix_members_home', ['home'], unique=False, postgresql_using='gist')
        batch_op.create_index('ix_members_phone_hash', ['phone_hash'], unique=False)
        batch_op.create_index('ix_members_village_code', ['village_code'], unique=False, postgresql_ops={'village_code': 'varchar_pattern_ops'})

    op.create_table('users',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=24), nullable=False),
    sa.Column('scope', sa.String(length=12), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('token_version', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("role in ('city_admin', 'county_admin', 'township_supervisor', 'village_admin', 'grid_worker', 'police', 'reviewer')", name=op.f('ck_users_role')),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_users_member_id_members')),
    sa.ForeignKeyConstraint(['scope'], ['regions.code'], name=op.f('fk_users_scope_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index('ix_users_scope', ['scope'], unique=False, postgresql_ops={'scope': 'varchar_pattern_ops'})



def downgrade():
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index('ix_users_scope', postgresql_ops={'scope': 'varchar_pattern_ops'})

    op.drop_table('users')
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_index('ix_members_village_code', postgresql_ops={'village_code': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_members_phone_hash')
        batch_op.drop_index('ix_members_home', postgresql_using='gist')

    op.drop_table('members')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_region_code_at', postgresql_ops={'region_code': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_audit_log_object')

    op.drop_table('audit_log')

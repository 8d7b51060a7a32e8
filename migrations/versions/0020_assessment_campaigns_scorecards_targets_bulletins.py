"""Assessment: publicity campaigns (十进), versioned scorecards (version 1 = the defaults), monthly
targets per region or cell, stored bulletins.

Revision ID: 0020_assessment
Revises: 0009_covering_indexes
Create Date: 2026-11-29 22:45:00

"""
import json

from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0020_assessment'
down_revision = '0009_covering_indexes'
branch_labels = None
depends_on = None

KINDS = ("community", "village", "household", "school", "enterprise", "institution", "shop", "hospital",
         "place_of_worship", "internet_cafe")
# The scorecard the city starts with (weights sum to 100; each value is scored linearly
# between "worst" (0) and "best" (1)).
DEFAULT_COMPONENTS = {
    "coverage": {"weight": 25, "best": 1.0, "worst": 0.0},
    "vulnerable_coverage": {"weight": 15, "best": 1.0, "worst": 0.0},
    "app_install_rate": {"weight": 10, "best": 1.0, "worst": 0.0},
    "warnings_met_on_time": {"weight": 10, "best": 1.0, "worst": 0.0},
    "median_minutes_to_meet": {"weight": 5, "best": 30, "worst": 1440},
    "cases_per_10k_households": {"weight": 10, "best": 0, "worst": 5},
    "zero_cases": {"weight": 10, "best": 1, "worst": 0},
    "flagged_share": {"weight": 5, "best": 0.0, "worst": 0.2},
    "campaigns_per_1k_households": {"weight": 10, "best": 2.0, "worst": 0.0},
}


def upgrade():
    kinds = ", ".join(f"'{k}'" for k in KINDS)
    op.create_table('campaigns',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('held_at', postgresql.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=False),
    sa.Column('raw_lon', sa.Float(), nullable=True),
    sa.Column('raw_lat', sa.Float(), nullable=True),
    sa.Column('crs', sa.String(length=10), nullable=True),
    sa.Column('audience', sa.Integer(), nullable=False),
    sa.Column('materials', sa.Integer(), server_default='0', nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint(f"kind in ({kinds})", name=op.f('ck_campaigns_kind')),
    sa.CheckConstraint('audience >= 0 and materials >= 0', name=op.f('ck_campaigns_counts')),
    sa.PrimaryKeyConstraint('county_code', 'id', name=op.f('pk_campaigns'))
    )
    op.create_index('ix_campaigns_id', 'campaigns', ['id'])
    op.create_index('ix_campaigns_village_code_held_at', 'campaigns', ['village_code', 'held_at'],
                    postgresql_ops={'village_code': 'varchar_pattern_ops'})

    op.create_table('scorecards',
    sa.Column('version', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('components', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('list_size', sa.Integer(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('version', name=op.f('pk_scorecards'))
    )
    op.execute(sa.text("insert into scorecards (components, list_size, created_by) values "
                       "(cast(:c as jsonb), 5, 'migration')").bindparams(c=json.dumps(DEFAULT_COMPONENTS)))

    op.create_table('targets',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('subject_code', sa.String(length=18), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('metric', sa.String(length=30), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('set_by', sa.String(length=64), nullable=True),
    sa.Column('set_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('extract(day from period) = 1', name=op.f('ck_targets_month')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_targets')),
    sa.UniqueConstraint('subject_code', 'period', 'metric', name=op.f('uq_targets_subject_code'))
    )
    op.create_index('ix_targets_subject_code_period', 'targets', ['subject_code', 'period'],
                    postgresql_ops={'subject_code': 'varchar_pattern_ops'})

    op.create_table('bulletins',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('region_code', sa.String(length=12), nullable=False),
    sa.Column('period', sa.Date(), nullable=False),
    sa.Column('content', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('generated_by', sa.String(length=64), nullable=True),
    sa.Column('generated_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['region_code'], ['regions.code'], name=op.f('fk_bulletins_region_code_regions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_bulletins'))
    )
    op.create_index('ix_bulletins_region_code_period', 'bulletins', ['region_code', 'period', 'generated_at'],
                    postgresql_ops={'region_code': 'varchar_pattern_ops'})


def downgrade():
    op.drop_table('bulletins')
    op.drop_table('targets')
    op.drop_table('scorecards')
    op.drop_table('campaigns')

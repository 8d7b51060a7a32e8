"""Visits, range-partitioned by month on visited_at, with their idempotency keys and rollups.

Partitions are created by ensure_visit_partition(month) — here for the recent past
and the months ahead; the app extends them before every sync.

Revision ID: 0004_visits
Revises: 0003_assignments
Create Date: 2026-11-28 13:34:07.822067

"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0004_visits'
down_revision = '0003_assignments'
branch_labels = None
depends_on = None


PARTITION_FUNCTION = """
create or replace function ensure_visit_partition(month_start date) returns void
language plpgsql as $$
declare
    partition_name text := 'visits_' || to_char(month_start, 'YYYY_MM');
    lower_bound timestamptz := (to_char(date_trunc('month', month_start), 'YYYY-MM-DD') || ' 00:00:00+00')::timestamptz;
begin
    if to_regclass(partition_name) is null then
        execute format('create table if not exists %I partition of visits for values from (%L) to (%L)',
                       partition_name, lower_bound, lower_bound + interval '1 month');
    end if;
end
$$
"""


def upgrade():
    op.create_table('grid_coverage',
    sa.Column('grid_code', sa.String(length=18), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('last_visit_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('last_completed_on', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('grid_code', name=op.f('pk_grid_coverage'))
    )
    with op.batch_alter_table('grid_coverage', schema=None) as batch_op:
        batch_op.create_index('ix_grid_coverage_village_code', ['village_code'], unique=False, postgresql_ops={'village_code': 'varchar_pattern_ops'})

    op.create_table('grid_day_counts',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('grid_code', sa.String(length=18), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('completed', sa.Integer(), nullable=False),
    sa.Column('flagged', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('county_code', 'grid_code', 'day', name=op.f('pk_grid_day_counts'))
    )
    with op.batch_alter_table('grid_day_counts', schema=None) as batch_op:
        batch_op.create_index('ix_grid_day_counts_day', ['day', 'grid_code'], unique=False)

    op.create_table('household_coverage',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('household_id', sa.BigInteger(), nullable=False),
    sa.Column('grid_code', sa.String(length=18), nullable=False),
    sa.Column('vulnerable', sa.Boolean(), nullable=False),
    sa.Column('last_visit_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('last_completed_on', sa.Date(), nullable=True),
    sa.Column('app_installed', sa.Boolean(), nullable=False),
    sa.Column('app_recorded_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('changed_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('county_code', 'household_id', name=op.f('pk_household_coverage'))
    )
    with op.batch_alter_table('household_coverage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_household_coverage_grid_code'), ['grid_code'], unique=False)

    op.create_table('household_visit_days',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('household_id', sa.BigInteger(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('previous_day', sa.Date(), nullable=True),
    sa.Column('grid_code', sa.String(length=18), nullable=False),
    sa.Column('vulnerable', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('county_code', 'household_id', 'day', name=op.f('pk_household_visit_days'))
    )
    with op.batch_alter_table('household_visit_days', schema=None) as batch_op:
        batch_op.create_index('ix_household_visit_days_day', ['day', 'grid_code'], unique=False, postgresql_include=['previous_day', 'vulnerable'])

    op.create_table('last_completed_counts',
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('households', sa.Integer(), nullable=False),
    sa.Column('vulnerable', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('village_code', 'day', name=op.f('pk_last_completed_counts'))
    )
    with op.batch_alter_table('last_completed_counts', schema=None) as batch_op:
        batch_op.create_index('ix_last_completed_counts_day', ['day', 'village_code'], unique=False)

    op.create_table('village_day_counts',
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('visits', sa.Integer(), nullable=False),
    sa.Column('completed', sa.Integer(), nullable=False),
    sa.Column('flagged', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('village_code', 'day', name=op.f('pk_village_day_counts'))
    )
    with op.batch_alter_table('village_day_counts', schema=None) as batch_op:
        batch_op.create_index('ix_village_day_counts_day', ['day', 'village_code'], unique=False)

    op.create_table('visit_keys',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('content_hash', sa.String(length=32), nullable=False),
    sa.Column('visited_at', postgresql.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('household_id', sa.BigInteger(), nullable=False),
    sa.Column('flags', postgresql.ARRAY(sa.String(length=20)), nullable=False),
    sa.PrimaryKeyConstraint('county_code', 'id', name=op.f('pk_visit_keys'))
    )
    op.create_table('visits',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('visited_at', postgresql.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('household_id', sa.BigInteger(), nullable=False),
    sa.Column('grid_code', sa.String(length=18), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('raw_lon', sa.Float(), nullable=True),
    sa.Column('raw_lat', sa.Float(), nullable=True),
    sa.Column('crs', sa.String(length=10), nullable=True),
    sa.Column('accuracy_m', sa.Float(), nullable=True),
    sa.Column('mocked', sa.Boolean(), nullable=False),
    sa.Column('topics', postgresql.ARRAY(sa.String(length=40)), nullable=False),
    sa.Column('app_installed', sa.Boolean(), nullable=True),
    sa.Column('residents_reached', sa.SmallInteger(), nullable=True),
    sa.Column('vulnerable_reached', sa.SmallInteger(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('flags', postgresql.ARRAY(sa.String(length=20)), nullable=False),
    sa.Column('new_household', sa.Boolean(), nullable=False),
    sa.Column('received_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('county_code', 'id', 'visited_at', name=op.f('pk_visits')),
    postgresql_partition_by='RANGE (visited_at)'
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index('ix_visits_grid_code_visited_at', ['grid_code', 'visited_at'], unique=False)
        batch_op.create_index('ix_visits_household_id_visited_at', ['household_id', 'visited_at'], unique=False)
        batch_op.create_index('ix_visits_member_id_visited_at', ['member_id', 'visited_at'], unique=False)
        batch_op.create_index('ix_visits_village_code', ['village_code', 'visited_at'], unique=False, postgresql_ops={'village_code': 'varchar_pattern_ops'})

    op.execute(PARTITION_FUNCTION)
    # Twelve months back (seeded histories, late syncs) and three ahead.
    op.execute("select ensure_visit_partition((date_trunc('month', now()) + make_interval(months => m))::date) "
               "from generate_series(-12, 3) as m")

    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_visit_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('removed_at', postgresql.TIMESTAMP(timezone=True), nullable=True))
        batch_op.create_index('uq_households_source_visit', ['county_code', 'source_visit_id'], unique=True, postgresql_where=sa.text('source_visit_id is not null'))



def downgrade():
    op.execute("drop function if exists ensure_visit_partition(date)")
    with op.batch_alter_table('households', schema=None) as batch_op:
        batch_op.drop_index('uq_households_source_visit', postgresql_where=sa.text('source_visit_id is not null'))
        batch_op.drop_column('removed_at')
        batch_op.drop_column('source_visit_id')

    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index('ix_visits_village_code', postgresql_ops={'village_code': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_visits_member_id_visited_at')
        batch_op.drop_index('ix_visits_household_id_visited_at')
        batch_op.drop_index('ix_visits_grid_code_visited_at')

    op.drop_table('visits')
    op.drop_table('visit_keys')
    with op.batch_alter_table('village_day_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_village_day_counts_day')

    op.drop_table('village_day_counts')
    with op.batch_alter_table('last_completed_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_last_completed_counts_day')

    op.drop_table('last_completed_counts')
    with op.batch_alter_table('household_visit_days', schema=None) as batch_op:
        batch_op.drop_index('ix_household_visit_days_day', postgresql_include=['previous_day', 'vulnerable'])

    op.drop_table('household_visit_days')
    with op.batch_alter_table('household_coverage', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_household_coverage_grid_code'))

    op.drop_table('household_coverage')
    with op.batch_alter_table('grid_day_counts', schema=None) as batch_op:
        batch_op.drop_index('ix_grid_day_counts_day')

    op.drop_table('grid_day_counts')
    with op.batch_alter_table('grid_coverage', schema=None) as batch_op:
        batch_op.drop_index('ix_grid_coverage_village_code', postgresql_ops={'village_code': 'varchar_pattern_ops'})

    op.drop_table('grid_coverage')

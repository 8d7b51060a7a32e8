"""Monthly coverage rollups: households with a completed visit per local month (one row per household
and month), and per village and month the households visited (and how many vulnerable), visits and
flagged visits, filled from the daily rollups; and per village the households with the app installed
(the cells' counts summed), so rankings and bulletins read one row per village.

Revision ID: 0024_monthly_rollups
Revises: 0023_refs_like_unknown
"""
import sqlalchemy as sa
from alembic import op

revision = '0024_monthly_rollups'
down_revision = '0023_refs_like_unknown'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'household_visit_months',
        sa.Column('county_code', sa.String(length=6), nullable=False),
        sa.Column('household_id', sa.BigInteger(), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('village_code', sa.String(length=12), nullable=False),
        sa.Column('vulnerable', sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint('county_code', 'household_id', 'month', name=op.f('pk_household_visit_months')),
    )
    op.create_table(
        'village_month_counts',
        sa.Column('village_code', sa.String(length=12), nullable=False),
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('households', sa.Integer(), nullable=False),
        sa.Column('vulnerable', sa.Integer(), nullable=False),
        sa.Column('visits', sa.Integer(), nullable=False),
        sa.Column('flagged', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('village_code', 'month', name=op.f('pk_village_month_counts')),
    )
    op.execute("""
        insert into household_visit_months (county_code, household_id, month, village_code, vulnerable)
        select county_code, household_id, date_trunc('month', day)::date, min(left(grid_code, 12)), bool_or(vulnerable)
        from household_visit_days group by 1, 2, 3
    """)
    op.execute("""
        insert into village_month_counts (village_code, month, households, vulnerable, visits, flagged)
        select village_code, month, sum(households), sum(vulnerable), sum(visits), sum(flagged) from (
            select village_code, month, count(*) as households, count(*) filter (where vulnerable) as vulnerable,
                   0 as visits, 0 as flagged
            from household_visit_months group by 1, 2
            union all
            select village_code, date_trunc('month', day)::date, 0, 0, sum(visits), sum(flagged)
            from village_day_counts group by 1, 2
        ) x
        group by 1, 2
    """)
    op.create_table(
        'village_app_counts',
        sa.Column('village_code', sa.String(length=12), nullable=False),
        sa.Column('app_installed', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('village_code', name=op.f('pk_village_app_counts')),
    )
    op.execute("""
        insert into village_app_counts (village_code, app_installed)
        select village_code, sum(app_installed) from grid_coverage group by 1
    """)
    op.create_index('ix_village_month_counts_month', 'village_month_counts', ['month', 'village_code'],
                    postgresql_include=['households', 'vulnerable', 'visits', 'flagged'])
    op.execute("analyze household_visit_months")
    op.execute("analyze village_month_counts")


def downgrade():
    op.drop_table('village_app_counts')
    op.drop_table('village_month_counts')
    op.drop_table('household_visit_months')

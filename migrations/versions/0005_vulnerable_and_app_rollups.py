"""Rollups for coverage reports: vulnerable households per cell and region, app installs per cell.

Backfilled from households and household_coverage.

Revision ID: 0005_coverage_rollups
Revises: 0004_visits
Create Date: 2026-11-28 13:51:44.624640

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_coverage_rollups'
down_revision = '0004_visits'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('grid_coverage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('app_installed', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('grids', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vulnerable_households', sa.Integer(), server_default='0', nullable=False))

    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('vulnerable_households', sa.Integer(), server_default='0', nullable=False))



    op.execute("""
        with v as (select grid_code, count(*) as n from households
                   where removed_at is null and cardinality(tags) > 0 group by grid_code)
        update grids g set vulnerable_households = v.n from v where g.code = v.grid_code
    """)
    op.execute("""
        with sums as (
            select left(code, 15) || '-00' as parent, sum(vulnerable_households) as v from grids where tier = 3 group by 1
            union all select left(code, 12) || '-00-00', sum(vulnerable_households) from grids where tier = 3 group by 1
        )
        update grids g set vulnerable_households = s.v from sums s where g.code = s.parent
    """)
    op.execute("""
        with per_village as (
            select village_code, sum(vulnerable_households) as v from grids where tier = 3 group by 1
        ), rolled as (
            select village_code as code, v from per_village
            union all select rpad(left(village_code, 9), 12, '0'), sum(v) from per_village group by 1
            union all select rpad(left(village_code, 6), 12, '0'), sum(v) from per_village group by 1
            union all select rpad(left(village_code, 4), 12, '0'), sum(v) from per_village group by 1
        )
        update regions r set vulnerable_households = x.v from rolled x where r.code = x.code
    """)
    op.execute("""
        with a as (select grid_code, count(*) as n from household_coverage where app_installed group by grid_code)
        update grid_coverage g set app_installed = a.n from a where g.grid_code = a.grid_code
    """)


def downgrade():
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.drop_column('vulnerable_households')

    with op.batch_alter_table('grids', schema=None) as batch_op:
        batch_op.drop_column('vulnerable_households')

    with op.batch_alter_table('grid_coverage', schema=None) as batch_op:
        batch_op.drop_column('app_installed')


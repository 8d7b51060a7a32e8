"""Tier-3 cell count per region (the denominator of "cells visited" in coverage reports).

Revision ID: 0006_tier3_grids
Revises: 0005_coverage_rollups
Create Date: 2026-11-28 13:59:42.830379

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_tier3_grids'
down_revision = '0005_coverage_rollups'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tier3_grids', sa.Integer(), server_default='0', nullable=False))

    # Cell reports filter by grid-code prefix: a pattern index serves LIKE 'prefix%'.
    op.drop_index("ix_household_coverage_grid_code", table_name="household_coverage")
    op.create_index("ix_household_coverage_grid_code", "household_coverage", ["grid_code"],
                    postgresql_ops={"grid_code": "varchar_pattern_ops"})
    op.execute("""
        with per_village as (select village_code, count(*) as t3 from grids where tier = 3 group by 1),
        rolled as (
            select village_code as code, t3 from per_village
            union all select rpad(left(village_code, 9), 12, '0'), sum(t3) from per_village group by 1
            union all select rpad(left(village_code, 6), 12, '0'), sum(t3) from per_village group by 1
            union all select rpad(left(village_code, 4), 12, '0'), sum(t3) from per_village group by 1
        )
        update regions r set tier3_grids = x.t3 from rolled x where r.code = x.code
    """)


def downgrade():
    op.drop_index("ix_household_coverage_grid_code", table_name="household_coverage")
    op.create_index("ix_household_coverage_grid_code", "household_coverage", ["grid_code"])
    with op.batch_alter_table('regions', schema=None) as batch_op:
        batch_op.drop_column('tier3_grids')


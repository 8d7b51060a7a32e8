"""Covering indexes for the per-day report counters: the 30-day report reads them index-only.

Revision ID: 0009_covering_indexes
Revises: 0008_warnings
Create Date: 2026-11-28 14:40:00

"""
from alembic import op

revision = '0009_covering_indexes'
down_revision = '0008_warnings'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_village_day_counts_day", table_name="village_day_counts")
    op.create_index("ix_village_day_counts_day", "village_day_counts", ["day", "village_code"],
                    postgresql_include=["visits", "flagged"])
    op.drop_index("ix_last_completed_counts_day", table_name="last_completed_counts")
    op.create_index("ix_last_completed_counts_day", "last_completed_counts", ["day", "village_code"],
                    postgresql_include=["households", "vulnerable"])


def downgrade():
    op.drop_index("ix_last_completed_counts_day", table_name="last_completed_counts")
    op.create_index("ix_last_completed_counts_day", "last_completed_counts", ["day", "village_code"])
    op.drop_index("ix_village_day_counts_day", table_name="village_day_counts")
    op.create_index("ix_village_day_counts_day", "village_day_counts", ["day", "village_code"])

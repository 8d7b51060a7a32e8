"""Management zones and households' external ids.

- ``regions.managed_by``: the county-level management zone (高新区, 恒口示范区) that runs a
  township statistically belonging to another county; reports read either way.
- ``households.external_id``: a door-plate or household-register key, unique within its
  village, so importing the same CSV twice updates rather than duplicates.

Revision ID: 0018_zones_external_ids
Revises: 0024_monthly_rollups
Create Date: 2026-11-29 22:40:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0018_zones_external_ids'
down_revision = '0024_monthly_rollups'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("regions", sa.Column("managed_by", sa.String(12), nullable=True))
    op.create_foreign_key("fk_regions_managed_by_regions", "regions", "regions", ["managed_by"], ["code"])
    op.create_index("ix_regions_managed_by", "regions", ["managed_by"], postgresql_where=sa.text("managed_by is not null"))
    op.add_column("households", sa.Column("external_id", sa.String(64), nullable=True))
    op.create_index("uq_households_external_id", "households", ["county_code", "village_code", "external_id"],
                    unique=True, postgresql_where=sa.text("external_id is not null"))


def downgrade():
    op.drop_index("uq_households_external_id", table_name="households")
    op.drop_column("households", "external_id")
    op.drop_index("ix_regions_managed_by", table_name="regions")
    op.drop_constraint("fk_regions_managed_by_regions", "regions", type_="foreignkey")
    op.drop_column("regions", "managed_by")

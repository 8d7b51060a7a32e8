"""Four-level warning task forces (预警处置专班) and their people.

One task force per region at city, county (the zones included), township and village
level; unanswered fund warnings escalate to the township's, the county's, then the
city's.  A person may be an embedded member and may sign in (an account): escalations
tell them there.

Revision ID: 0019_task_forces
Revises: 0018_zones_external_ids
Create Date: 2026-11-29 23:20:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0019_task_forces'
down_revision = '0018_zones_external_ids'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "task_forces",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("region_code", sa.String(12), sa.ForeignKey("regions.code", name="fk_task_forces_region_code_regions"),
                  nullable=False),
        sa.Column("level", sa.String(10), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.CheckConstraint("level in ('city', 'county', 'township', 'village')", name="ck_task_forces_level"),
        sa.UniqueConstraint("region_code", name="uq_task_forces_region_code"),
    )
    op.create_index("ix_task_forces_level_region", "task_forces", ["level", "region_code"],
                    postgresql_ops={"region_code": "varchar_pattern_ops"})
    op.create_table(
        "task_force_people",
        sa.Column("id", sa.Integer(), sa.Identity(), primary_key=True),
        sa.Column("task_force_id", sa.Integer(),
                  sa.ForeignKey("task_forces.id", name="fk_task_force_people_task_force_id_task_forces",
                                ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("member_id", sa.Integer(),
                  sa.ForeignKey("members.id", name="fk_task_force_people_member_id_members", ondelete="SET NULL"),
                  nullable=True),
        sa.Column("user_id", sa.Integer(),
                  sa.ForeignKey("users.id", name="fk_task_force_people_user_id_users", ondelete="SET NULL"),
                  nullable=True),
    )
    op.create_index("ix_task_force_people_task_force_id", "task_force_people", ["task_force_id"])
    # One seat per member and per account on a force; escalations look people up by both.
    op.create_index("uq_task_force_people_member", "task_force_people", ["task_force_id", "member_id"],
                    unique=True, postgresql_where=sa.text("member_id is not null"))
    op.create_index("uq_task_force_people_user", "task_force_people", ["task_force_id", "user_id"],
                    unique=True, postgresql_where=sa.text("user_id is not null"))
    op.create_index("ix_task_force_people_member_id", "task_force_people", ["member_id"],
                    postgresql_where=sa.text("member_id is not null"))
    op.create_index("ix_task_force_people_user_id", "task_force_people", ["user_id"],
                    postgresql_where=sa.text("user_id is not null"))


def downgrade():
    op.drop_table("task_force_people")
    op.drop_table("task_forces")

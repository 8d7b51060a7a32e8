"""Warnings handed to another member: a 'reassigned' event, and the member each routing step chose.

Revision ID: 0013_warning_reassignment
Revises: 0021_case_corrections
Create Date: 2026-11-29 23:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0013_warning_reassignment'
down_revision = '0021_case_corrections'
branch_labels = None
depends_on = None

OLD_TYPES = "'acknowledged', 'called', 'met', 'outcome', 'escalated', 'notified', 'routed'"
NEW_TYPES = OLD_TYPES + ", 'reassigned'"


def upgrade():
    op.drop_constraint(op.f("ck_warning_events_type"), "warning_events", type_="check")
    op.create_check_constraint(op.f("ck_warning_events_type"), "warning_events", f"type in ({NEW_TYPES})")
    op.add_column("warning_events", sa.Column("member_id", sa.Integer(), nullable=True))
    # Until now a warning kept the member it was routed to.
    op.execute("""
        update warning_events e set member_id = w.assigned_member_id
        from warnings w where w.county_code = e.county_code and w.id = e.warning_id and e.type = 'routed'
    """)


def downgrade():
    op.execute("delete from warning_events where type = 'reassigned'")
    op.drop_column("warning_events", "member_id")
    op.drop_constraint(op.f("ck_warning_events_type"), "warning_events", type_="check")
    op.create_check_constraint(op.f("ck_warning_events_type"), "warning_events", f"type in ({OLD_TYPES})")

"""Case corrections: cases idempotent on external_ref and voidable; certifications reinstated by the
county reviewer (a "reinstate" decision in their history).

Revision ID: 0021_case_corrections
Revises: 0020_assessment
Create Date: 2026-11-29 23:00:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0021_case_corrections'
down_revision = '0020_assessment'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('cases', sa.Column('voided_at', postgresql.TIMESTAMP(timezone=True), nullable=True))
    op.add_column('cases', sa.Column('voided_by', sa.String(length=64), nullable=True))
    op.add_column('cases', sa.Column('void_reason', sa.Text(), nullable=True))
    # The same police reference twice is one case (looked up under an advisory lock; this
    # index is the database's guarantee within a county, Citus-compatible).
    op.create_index('uq_cases_external_ref', 'cases', ['county_code', 'external_ref'], unique=True,
                    postgresql_where=sa.text('external_ref is not null'))
    op.create_index('ix_cases_external_ref', 'cases', ['external_ref'],
                    postgresql_where=sa.text('external_ref is not null'))
    op.execute("alter table certification_decisions drop constraint ck_certification_decisions_decision, "
               "add constraint ck_certification_decisions_decision "
               "check (decision in ('approve', 'reject', 'reinstate'))")


def downgrade():
    op.execute("delete from certification_decisions where decision = 'reinstate'")
    op.execute("alter table certification_decisions drop constraint ck_certification_decisions_decision, "
               "add constraint ck_certification_decisions_decision check (decision in ('approve', 'reject'))")
    op.drop_index('ix_cases_external_ref', table_name='cases')
    op.drop_index('uq_cases_external_ref', table_name='cases')
    op.drop_column('cases', 'void_reason')
    op.drop_column('cases', 'voided_by')
    op.drop_column('cases', 'voided_at')

"""A fund warning's external reference is unique per village (so another scope's reference answers
like an unknown one), and the shared store of the request limits (sign-in, OGC Basic, sync).

``rate_limits`` is UNLOGGED: counters of the last minutes need no crash safety or replication,
and skipping the WAL makes each hit cheaper.

Revision ID: 0012_refs_and_rate_limits
Revises: 0011_sessions_revocable
"""
import sqlalchemy as sa
from alembic import op

revision = '0012_refs_and_rate_limits'
down_revision = '0011_sessions_revocable'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('uq_warnings_external_ref', table_name='warnings')
    op.create_index('uq_warnings_village_external_ref', 'warnings', ['village_code', 'external_ref'], unique=True)
    op.execute("""
        create unlogged table rate_limits (
            key text primary key,
            hits integer not null,
            expires_at timestamptz not null
        )
    """)
    op.create_index('ix_rate_limits_expires_at', 'rate_limits', ['expires_at'])


def downgrade():
    op.drop_index('ix_rate_limits_expires_at', table_name='rate_limits')
    op.drop_table('rate_limits')
    op.drop_index('uq_warnings_village_external_ref', table_name='warnings')
    op.create_index('uq_warnings_external_ref', 'warnings', ['county_code', 'external_ref'], unique=True)

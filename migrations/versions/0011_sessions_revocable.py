"""Sessions that end: revoked session ids (sign-out), and the session a password change keeps.

Revision ID: 0011_sessions_revocable
Revises: 0010_phones_masked_last_four
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = '0011_sessions_revocable'
down_revision = '0010_phones_masked_last_four'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'revoked_sessions',
        sa.Column('session_id', sa.String(length=36), nullable=False),
        sa.Column('username', sa.String(length=64), nullable=False),
        sa.Column('revoked_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('expires_at', postgresql.TIMESTAMP(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('session_id', name=op.f('pk_revoked_sessions')),
    )
    op.create_index('ix_revoked_sessions_expires_at', 'revoked_sessions', ['expires_at'])
    op.add_column('users', sa.Column('kept_session', sa.String(length=36), nullable=True))


def downgrade():
    op.drop_column('users', 'kept_session')
    op.drop_index('ix_revoked_sessions_expires_at', table_name='revoked_sessions')
    op.drop_table('revoked_sessions')

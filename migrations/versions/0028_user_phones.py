"""Accounts may hold a phone number (encrypted, keyed hash, masked like members'): supervisors of a
task force receive the text messages their rules send them.

Revision ID: 0028_user_phones
Revises: 0022_visit_reviews
Create Date: 2026-11-30 02:00:00

"""
from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision = '0028_user_phones'
down_revision = '0022_visit_reviews'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('phone_encrypted', sa.LargeBinary(), nullable=True))
    op.add_column('users', sa.Column('phone_hash', sa.String(length=64), nullable=True))
    op.add_column('users', sa.Column('phone_masked', sa.String(length=16), nullable=True))


def downgrade():
    op.drop_column('users', 'phone_masked')
    op.drop_column('users', 'phone_hash')
    op.drop_column('users', 'phone_encrypted')

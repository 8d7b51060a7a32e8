"""Masked phones show at most their last four digits (``138****1234`` becomes ``*******1234``).

The stored masked form already holds the length and the last four digits, so no key is needed.

Revision ID: 0010_phones_masked_last_four
Revises: 0015_notifications
"""
from alembic import op

revision = '0010_phones_masked_last_four'
down_revision = '0015_notifications'
branch_labels = None
depends_on = None


def upgrade():
    for table in ("members", "warnings"):
        op.execute(f"update {table} set phone_masked = repeat('*', length(phone_masked) - 4) || right(phone_masked, 4)"
                   " where length(phone_masked) > 6")


def downgrade():
    pass  # the hidden digits are gone from the masked form; the ciphertext still holds them

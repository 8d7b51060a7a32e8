"""References another scope used answer exactly like unknown ones: a case's external reference is
unique per village (not per county), and a phone's warning event id per warning (not per county).

Both are looked up where the caller may look (the caller's scope; the warning in the URL), and
no scope is smaller than a village, so a reference used out of sight can be used again here
instead of answering 409.

Revision ID: 0023_refs_like_unknown
Revises: 0028_user_phones
"""
import sqlalchemy as sa
from alembic import op

revision = '0023_refs_like_unknown'
down_revision = '0028_user_phones'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('uq_cases_external_ref', table_name='cases')
    op.create_index('uq_cases_village_external_ref', 'cases', ['county_code', 'village_code', 'external_ref'],
                    unique=True, postgresql_where=sa.text('external_ref is not null'))
    op.drop_constraint('pk_warning_events', 'warning_events', type_='primary')
    op.create_primary_key('pk_warning_events', 'warning_events', ['county_code', 'warning_id', 'id'])


def downgrade():
    # Fails if a reference was used again in two villages of a county, or an event id on two
    # warnings, since (as it should: that data does not fit the older rule).
    op.drop_constraint('pk_warning_events', 'warning_events', type_='primary')
    op.create_primary_key('pk_warning_events', 'warning_events', ['county_code', 'id'])
    op.drop_index('uq_cases_village_external_ref', table_name='cases')
    op.create_index('uq_cases_external_ref', 'cases', ['county_code', 'external_ref'], unique=True,
                    postgresql_where=sa.text('external_ref is not null'))

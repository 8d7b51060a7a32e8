"""Visit review: a supervisor confirms or voids a visit (history in visit_reviews; a voided visit
leaves the coverage rollups and stays in the visit table).

Revision ID: 0022_visit_reviews
Revises: 0012_refs_and_rate_limits
Create Date: 2026-11-29 23:20:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0022_visit_reviews'
down_revision = '0012_refs_and_rate_limits'
branch_labels = None
depends_on = None


def upgrade():
    # Nullable columns without a default: a catalogue change on every partition, no rewrite.
    op.add_column('visits', sa.Column('review', sa.String(length=10), nullable=True))
    op.add_column('visits', sa.Column('reviewed_by', sa.String(length=64), nullable=True))
    op.add_column('visits', sa.Column('reviewed_at', postgresql.TIMESTAMP(timezone=True), nullable=True))
    op.create_table('visit_reviews',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('visit_id', sa.Uuid(), nullable=False),
    sa.Column('visited_at', postgresql.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('decision', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reviewed_by', sa.String(length=64), nullable=True),
    sa.Column('reviewed_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("decision in ('confirmed', 'voided')", name=op.f('ck_visit_reviews_decision')),
    sa.PrimaryKeyConstraint('county_code', 'id', name=op.f('pk_visit_reviews'))
    )
    op.create_index('ix_visit_reviews_visit_id', 'visit_reviews', ['visit_id'])


def downgrade():
    op.drop_table('visit_reviews')
    op.drop_column('visits', 'reviewed_at')
    op.drop_column('visits', 'reviewed_by')
    op.drop_column('visits', 'review')

"""Fund warnings and their events (routing, deadlines, escalation steps, the member's actions).

Revision ID: 0008_warnings
Revises: 0007_certification
Create Date: 2026-11-28 14:15:49.426956

"""
from alembic import op
import sqlalchemy as sa
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = '0008_warnings'
down_revision = '0007_certification'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('warning_events',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('warning_id', sa.BigInteger(), nullable=False),
    sa.Column('type', sa.String(length=12), nullable=False),
    sa.Column('at', postgresql.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=True),
    sa.Column('amount_yuan', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('stop_payment_requested', sa.Boolean(), nullable=True),
    sa.Column('checklist', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('escalated_to', sa.String(length=8), nullable=True),
    sa.Column('deadline', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('by', sa.String(length=64), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('content_hash', sa.String(length=32), nullable=True),
    sa.Column('recorded_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("type in ('acknowledged', 'called', 'met', 'outcome', 'escalated', 'notified', 'routed')", name=op.f('ck_warning_events_type')),
    sa.PrimaryKeyConstraint('county_code', 'id', name=op.f('pk_warning_events'))
    )
    with op.batch_alter_table('warning_events', schema=None) as batch_op:
        batch_op.create_index('ix_warning_events_warning', ['warning_id', 'at'], unique=False)

    # Room on each page for one more version of every row, so that a pass escalating them
    # all in one transaction updates in place (HOT) instead of touching every index.
    op.create_table('warnings',
    sa.Column('county_code', sa.String(length=6), nullable=False),
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('external_ref', sa.String(length=64), nullable=False),
    sa.Column('level', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.Column('household_id', sa.BigInteger(), nullable=True),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('grid_code', sa.String(length=18), nullable=False),
    sa.Column('village_code', sa.String(length=12), nullable=False),
    sa.Column('phone_encrypted', sa.LargeBinary(), nullable=True),
    sa.Column('phone_masked', sa.String(length=16), nullable=True),
    sa.Column('assigned_member_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('escalation_level', sa.SmallInteger(), nullable=False),
    sa.Column('deadline', postgresql.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('ack_deadline', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('meet_deadline', postgresql.TIMESTAMP(timezone=True), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=True),
    sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('acknowledged_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('met_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('closed_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=12), nullable=True),
    sa.Column('amount_yuan', sa.Numeric(precision=14, scale=2), nullable=True),
    sa.Column('stop_payment_requested', sa.Boolean(), nullable=True),
    sa.Column('checklist', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.CheckConstraint("level in ('urgent', 'high', 'medium', 'low')", name=op.f('ck_warnings_level')),
    sa.CheckConstraint("status in ('open', 'acknowledged', 'met', 'revisit', 'closed')", name=op.f('ck_warnings_status')),
    sa.CheckConstraint('escalation_level between 0 and 3', name=op.f('ck_warnings_escalation_level')),
    sa.PrimaryKeyConstraint('county_code', 'id', name=op.f('pk_warnings'))
    )
    op.execute("alter table warnings set (fillfactor = 45)")
    with op.batch_alter_table('warnings', schema=None) as batch_op:
        batch_op.create_index('ix_warnings_external_ref', ['external_ref'], unique=False)
        batch_op.create_index('ix_warnings_id', ['id'], unique=False)
        batch_op.create_index('ix_warnings_member', ['assigned_member_id', 'status'], unique=False)
        batch_op.create_index('ix_warnings_open', ['status'], unique=False, postgresql_where=sa.text("status <> 'closed'"))
        batch_op.create_index('ix_warnings_village_code', ['village_code', 'created_at'], unique=False, postgresql_ops={'village_code': 'varchar_pattern_ops'})
        batch_op.create_index('uq_warnings_external_ref', ['county_code', 'external_ref'], unique=True)



def downgrade():
    with op.batch_alter_table('warnings', schema=None) as batch_op:
        batch_op.drop_index('uq_warnings_external_ref')
        batch_op.drop_index('ix_warnings_village_code', postgresql_ops={'village_code': 'varchar_pattern_ops'})
        batch_op.drop_index('ix_warnings_open', postgresql_where=sa.text("status <> 'closed'"))
        batch_op.drop_index('ix_warnings_member')
        batch_op.drop_index('ix_warnings_id')
        batch_op.drop_index('ix_warnings_external_ref')

    op.drop_table('warnings')
    with op.batch_alter_table('warning_events', schema=None) as batch_op:
        batch_op.drop_index('ix_warning_events_warning')

    op.drop_table('warning_events')

"""Notifications outbox (notifications, per-channel deliveries, push subscriptions), job statistics, and
procrastinate's job-queue schema.

procrastinate's schema is the SQL file shipped with the pinned version (``procrastinate~=3.10``) and is
applied here, so ``flask db upgrade`` (``make migrate``) is the one command that readies a database.
Upgrading procrastinate later means a new revision applying its files in ``sql/migrations`` between
the two versions.

Revision ID: 0015_notifications
Revises: 0013_warning_reassignment
Create Date: 2026-11-29 22:40:00

"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0015_notifications'
down_revision = '0013_warning_reassignment'
branch_labels = None
depends_on = None


def upgrade():
    from procrastinate.schema import SchemaManager

    op.execute(SchemaManager.get_schema())
    op.create_table(
        'notifications',
        sa.Column('id', sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=True),
        sa.Column('member_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('cause', sa.String(length=120), nullable=False),
        sa.Column('object_type', sa.String(length=32), nullable=False),
        sa.Column('object_id', sa.String(length=64), nullable=False),
        sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
        sa.Column('urgent', sa.Boolean(), server_default='false', nullable=False),
        sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.Column('read_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column('delivered_seq', sa.BigInteger(), nullable=True),
        sa.CheckConstraint('user_id is not null or member_id is not null', name=op.f('ck_notifications_recipient')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    )
    op.create_index('uq_notifications_user_cause', 'notifications', ['user_id', 'cause'], unique=True,
                    postgresql_where=sa.text('user_id is not null'))
    op.create_index('uq_notifications_member_cause', 'notifications', ['member_id', 'cause'], unique=True,
                    postgresql_where=sa.text('user_id is null'))
    op.create_index('ix_notifications_user_id', 'notifications', ['user_id', 'id'])
    op.create_index('ix_notifications_user_seq', 'notifications', ['user_id', 'delivered_seq'],
                    postgresql_where=sa.text('delivered_seq is not null'))
    op.execute("create sequence notifications_delivered_seq")
    op.create_table(
        'notification_deliveries',
        sa.Column('notification_id', sa.BigInteger(), nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('status', sa.String(length=8), server_default='pending', nullable=False),
        sa.Column('not_before', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.Column('attempts', sa.SmallInteger(), server_default='0', nullable=False),
        sa.Column('failures', sa.SmallInteger(), server_default='0', nullable=False),
        sa.Column('sent_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column('last_error', sa.String(length=200), nullable=True),
        sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.CheckConstraint("channel in ('in_app', 'push', 'sms')", name=op.f('ck_notification_deliveries_channel')),
        sa.CheckConstraint("status in ('pending', 'sent', 'skipped', 'failed')",
                           name=op.f('ck_notification_deliveries_status')),
        sa.PrimaryKeyConstraint('notification_id', 'channel', name=op.f('pk_notification_deliveries')),
    )
    op.create_index('ix_notification_deliveries_pending', 'notification_deliveries', ['not_before', 'channel'],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_table(
        'push_subscriptions',
        sa.Column('id', sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('endpoint', sa.Text(), nullable=False),
        sa.Column('p256dh', sa.String(length=200), nullable=False),
        sa.Column('auth', sa.String(length=64), nullable=False),
        sa.Column('created_at', postgresql.TIMESTAMP(timezone=True), server_default=sa.text('now()'),
                  nullable=False),
        sa.Column('last_success_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_push_subscriptions')),
        sa.UniqueConstraint('endpoint', name=op.f('uq_push_subscriptions_endpoint')),
    )
    op.create_index('ix_push_subscriptions_user_id', 'push_subscriptions', ['user_id'])
    op.create_table(
        'job_stats',
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('schedule', sa.String(length=64), nullable=True),
        sa.Column('runs', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('failures', sa.BigInteger(), server_default='0', nullable=False),
        sa.Column('last_run_at', postgresql.TIMESTAMP(timezone=True), nullable=True),
        sa.Column('last_status', sa.String(length=12), nullable=True),
        sa.Column('last_duration_ms', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.String(length=120), nullable=True),
        sa.PrimaryKeyConstraint('name', name=op.f('pk_job_stats')),
    )


def downgrade():
    op.drop_table('job_stats')
    op.drop_table('push_subscriptions')
    op.drop_table('notification_deliveries')
    op.execute("drop sequence notifications_delivered_seq")
    op.drop_table('notifications')
    # procrastinate ships no uninstall script: drop every object it created (all named procrastinate_*).
    op.execute("""
        do $$
        declare item record;
        begin
            for item in select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
                        where n.nspname = current_schema() and c.relkind in ('r', 'p')
                          and c.relname like 'procrastinate%' loop
                execute format('drop table if exists %I cascade', item.relname);
            end loop;
            for item in select p.oid::regprocedure as signature from pg_proc p
                        join pg_namespace n on n.oid = p.pronamespace
                        where n.nspname = current_schema() and p.proname like 'procrastinate%' loop
                execute format('drop routine if exists %s cascade', item.signature);
            end loop;
            for item in select t.typname from pg_type t join pg_namespace n on n.oid = t.typnamespace
                        where n.nspname = current_schema() and t.typname like 'procrastinate%'
                          and t.typtype in ('e', 'c') loop
                execute format('drop type if exists %I cascade', item.typname);
            end loop;
        end $$;
    """)

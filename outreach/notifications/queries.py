"""SQL of notifications: a user's list, the live stream's reads, subscriptions."""
from __future__ import annotations

from sqlalchemy import Select, select, text

from core.extensions import db
from outreach.notifications.models import Notification, PushSubscription


def notifications_select(user_id: int, since: int | None, unread: bool) -> Select:
    """A user's notifications, newest first."""
    statement = select(Notification).where(Notification.user_id == user_id).order_by(Notification.id.desc())
    if since is not None:
        statement = statement.where(Notification.id > since)
    if unread:
        statement = statement.where(Notification.read_at.is_(None))
    return statement


def notification_of(user_id: int, notification_id: int) -> Notification | None:
    """One of the user's notifications."""
    return db.session.scalar(select(Notification).where(Notification.id == notification_id,
                                                        Notification.user_id == user_id))


def stream_position(user_id: int, after_id: int | None) -> int:
    """Where a stream starts: just after the given notification's delivery, else after the latest one."""
    with db.engine.connect() as connection:
        if after_id is not None:
            found = connection.execute(text("""
                select delivered_seq from notifications where id = :id and user_id = :user
                  and delivered_seq is not null
            """), {"id": after_id, "user": user_id}).scalar()
            if found is not None:
                return found
        return connection.execute(text("""
            select coalesce(max(delivered_seq), 0) from notifications
            where user_id = :user and delivered_seq is not null
        """), {"user": user_id}).scalar_one()


def delivered_after(user_id: int, position: int, limit: int = 200) -> list:
    """The user's notifications delivered in-app after ``position``, in delivery order (own connection:
    a stream never keeps one between reads)."""
    with db.engine.connect() as connection:
        return list(connection.execute(text("""
            select id, kind, params, object_type, object_id, created_at, read_at, urgent, delivered_seq
            from notifications where user_id = :user and delivered_seq > :position
            order by delivered_seq limit :limit
        """), {"user": user_id, "position": position, "limit": limit}).mappings())


def subscription_of(user_id: int, subscription_id: int) -> PushSubscription | None:
    """One of the user's push subscriptions."""
    return db.session.scalar(select(PushSubscription).where(PushSubscription.id == subscription_id,
                                                            PushSubscription.user_id == user_id))


def subscription_by_endpoint(endpoint: str) -> PushSubscription | None:
    """The subscription with this endpoint, whoever it belongs to."""
    return db.session.scalar(select(PushSubscription).where(PushSubscription.endpoint == endpoint))

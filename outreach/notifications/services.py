"""Notification rules for the signed-in user: reading, marking read, push subscriptions."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask_babel import lazy_gettext as _l

from core.errors import NotFound
from core.extensions import db
from outreach.notifications import queries
from outreach.notifications.models import PushSubscription


def mark_read(user_id: int, notification_id: int) -> None:
    """Mark one of the user's notifications read (again is harmless)."""
    notification = queries.notification_of(user_id, notification_id)
    if notification is None:
        raise NotFound(_l("Notification %(id)s was not found.", id=notification_id))
    if notification.read_at is None:
        notification.read_at = datetime.now(UTC)
        db.session.commit()


def subscribe(user_id: int, data: dict[str, Any]) -> tuple[PushSubscription, bool]:
    """Keep a browser's subscription for the user; (subscription, created).  An endpoint already known
    moves to this user (the browser now belongs to whoever signed in on it) with its new keys."""
    subscription = queries.subscription_by_endpoint(data["endpoint"])
    created = subscription is None
    if created:
        subscription = PushSubscription(endpoint=data["endpoint"], user_id=user_id)
        db.session.add(subscription)
    subscription.user_id = user_id
    subscription.p256dh = data["keys"]["p256dh"]
    subscription.auth = data["keys"]["auth"]
    db.session.commit()
    return subscription, created


def unsubscribe(user_id: int, subscription_id: int) -> None:
    """Forget one of the user's subscriptions."""
    subscription = queries.subscription_of(user_id, subscription_id)
    if subscription is None:
        raise NotFound(_l("Push subscription %(id)s was not found.", id=subscription_id))
    db.session.delete(subscription)
    db.session.commit()

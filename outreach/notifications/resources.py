"""HTTP endpoints of notifications: the list, read marks, the live stream, push subscriptions."""
from __future__ import annotations

from flask import Response, current_app, request
from flask.views import MethodView
from flask_babel import get_locale
from flask_jwt_extended import current_user
from flask_smorest import Blueprint

from core.extensions import db
from core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate_select
from grids.accounts.roles import ALL_ROLES, roles_allowed
from outreach.notifications import keys, queries, services, stream
from outreach.notifications.schemas import (
    NotificationQueryArgs,
    NotificationSchema,
    PushSubscriptionInSchema,
    PushSubscriptionSchema,
    VapidKeySchema,
)

blp = Blueprint("my_notifications", __name__, url_prefix="/me", description="The signed-in user's notifications")
push_blp = Blueprint("push", __name__, url_prefix="/push", description="Web Push")


@blp.route("/notifications")
class Notifications(MethodView):
    """The user's notifications."""

    @roles_allowed(*ALL_ROLES)
    @blp.arguments(NotificationQueryArgs, location="query")
    @blp.response(200, NotificationSchema(many=True))
    @blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters):
        """List the user's notifications, newest first."""
        statement = queries.notifications_select(current_user.id, args.get("since"), args["unread"])
        return paginate_select(statement, pagination_parameters)


@blp.route("/notifications/<id64:notification_id>/read")
class NotificationRead(MethodView):
    """A read mark."""

    @roles_allowed(*ALL_ROLES)
    @blp.response(204)
    def post(self, notification_id):
        """Mark a notification read."""
        services.mark_read(current_user.id, notification_id)


@blp.route("/notifications/stream")
class NotificationStream(MethodView):
    """The live stream."""

    @roles_allowed(*ALL_ROLES)
    @blp.doc(responses={"200": {"description": "text/event-stream: one `notification` event per notification, "
                                               "its id the notification's id; resumes after Last-Event-ID",
                                "content": {"text/event-stream": {"schema": {"type": "string"}}}}})
    def get(self):
        """Server-Sent Events: each new notification as it is delivered."""
        last = request.headers.get("Last-Event-ID") or request.args.get("since")
        after = int(last) if last and last.isdigit() else None
        user_id = current_user.id
        locale = str(get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])
        position = queries.stream_position(user_id, after)
        db.session.remove()  # hold no pooled connection while the stream is open
        app = current_app._get_current_object()
        return Response(stream.events(app, user_id, position, locale), mimetype="text/event-stream",
                        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@blp.route("/push-subscriptions")
class PushSubscriptions(MethodView):
    """The user's Web Push subscriptions."""

    @roles_allowed(*ALL_ROLES)
    @blp.arguments(PushSubscriptionInSchema)
    @blp.response(201, PushSubscriptionSchema)
    @blp.alt_response(200, schema=PushSubscriptionSchema, description="This browser was already subscribed")
    def post(self, data):
        """Subscribe this browser to the user's notifications."""
        subscription, created = services.subscribe(current_user.id, data)
        return subscription, 201 if created else 200


@blp.route("/push-subscriptions/<id64:subscription_id>")
class PushSubscriptionById(MethodView):
    """One subscription."""

    @roles_allowed(*ALL_ROLES)
    @blp.response(204)
    def delete(self, subscription_id):
        """Unsubscribe a browser."""
        services.unsubscribe(current_user.id, subscription_id)


@push_blp.route("/vapid-public-key")
class VapidPublicKey(MethodView):
    """The server's Web Push key."""

    @roles_allowed(*ALL_ROLES)
    @push_blp.response(200, VapidKeySchema)
    def get(self):
        """The VAPID public key (the browser's applicationServerKey)."""
        return {"public_key": keys.public_key(current_app._get_current_object())}


BLUEPRINTS = (blp, push_blp)

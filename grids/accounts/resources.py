"""HTTP endpoints of sign-in, the current user, users and the audit log."""
from __future__ import annotations

from flask import current_app, request
from flask.views import MethodView
from flask_jwt_extended import current_user, get_jwt, jwt_required
from flask_smorest import Blueprint

from core.extensions import limiter
from core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, paginate_select
from grids.accounts import queries, services
from grids.accounts.roles import ADMINS, roles_allowed
from grids.accounts.schemas import (
    AuditEntrySchema,
    AuditQueryArgs,
    LoginSchema,
    PasswordChangeSchema,
    TokenSchema,
    TokenUserSchema,
    UserQueryArgs,
    UserSchema,
    UserUpdateSchema,
)

auth_blp = Blueprint("auth", __name__, url_prefix="/auth", description="Sign-in and tokens")
me_blp = Blueprint("me", __name__, url_prefix="/me", description="The signed-in user")
users_blp = Blueprint("users", __name__, url_prefix="/users", description="User accounts")
audit_blp = Blueprint("audit", __name__, url_prefix="/audit", description="Audit log")


def _login_limit() -> str:
    return current_app.config["GRIDS_LOGIN_RATE_LIMIT"]


def _login_address_limit() -> str:
    return current_app.config["GRIDS_LOGIN_ADDRESS_RATE_LIMIT"]


def _failed(response) -> bool:
    # Only failed sign-ins count: an office signing in every morning is never locked out.
    return response.status_code == 401


def _login_key() -> str:
    # Per address and username: one user hammered from many places is limited too.
    body = request.get_json(silent=True) or {}
    username = body.get("username") if isinstance(body, dict) else None
    return f"{request.remote_addr}|{username if isinstance(username, str) else ''}"


@auth_blp.route("/token")
class Token(MethodView):
    """Sign-in."""

    decorators = [
        limiter.limit(_login_limit, key_func=_login_key, methods=["POST"], deduct_when=_failed, scope="login"),
        # Many usernames tried from one address.
        limiter.limit(_login_address_limit, key_func=lambda: request.remote_addr or "", methods=["POST"],
                      deduct_when=_failed, scope="login-address"),
    ]

    @auth_blp.arguments(LoginSchema)
    @auth_blp.response(200, TokenSchema)
    @auth_blp.alt_response(401, description="Wrong username or password")
    def post(self, credentials):
        """Exchange a username and password for access and refresh tokens."""
        return services.authenticate(credentials["username"], credentials["password"])


@auth_blp.route("/refresh")
class Refresh(MethodView):
    """Token refresh."""

    @jwt_required(refresh=True)
    @auth_blp.response(200, TokenSchema)
    def post(self):
        """Exchange a refresh token (as Bearer) for a new access token."""
        return services.tokens_for(current_user, with_refresh=False, session=get_jwt().get("sid"))


@auth_blp.route("/logout")
class Logout(MethodView):
    """Sign-out."""

    @jwt_required(refresh=True)
    @auth_blp.response(204)
    def post(self):
        """Sign out: the refresh token (as Bearer) and the access tokens issued from it stop working."""
        services.logout(current_user, get_jwt())


@me_blp.route("")
class Me(MethodView):
    """The current user."""

    @me_blp.response(200, TokenUserSchema)
    def get(self):
        """The signed-in user, with the member id of a grid worker."""
        return current_user


@me_blp.route("/password")
class MyPassword(MethodView):
    """One's own password."""

    @me_blp.arguments(PasswordChangeSchema)
    @me_blp.response(204)
    def post(self, data):
        """Change your password (the old one is required); your other sessions end."""
        services.change_password(current_user, get_jwt(), data["old_password"], data["new_password"])


@users_blp.route("")
class Users(MethodView):
    """User accounts in the caller's scope."""

    @roles_allowed(*ADMINS)
    @users_blp.arguments(UserQueryArgs, location="query")
    @users_blp.response(200, UserSchema(many=True))
    @users_blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters):
        """List users in your scope."""
        return paginate_select(queries.users_select(args.get("role"), args.get("active")), pagination_parameters)

    @roles_allowed(*ADMINS)
    @users_blp.arguments(UserSchema)
    @users_blp.response(201, UserSchema)
    def post(self, data):
        """Create a user inside your scope with a role below your own."""
        return services.create_user(current_user, data)


@users_blp.route("/<string:username>")
class UserByUsername(MethodView):
    """One user account."""

    @roles_allowed(*ADMINS)
    @users_blp.response(200, UserSchema)
    def get(self, username):
        """Get a user in your scope."""
        return services.get_user(username)

    @roles_allowed(*ADMINS)
    @users_blp.arguments(UserUpdateSchema)
    @users_blp.response(200, UserSchema)
    def patch(self, changes, username):
        """Deactivate, reactivate or reset the password of a user."""
        return services.update_user(current_user, username, changes)


@audit_blp.route("")
class AuditLog(MethodView):
    """The audit log of the caller's territory."""

    @roles_allowed(*ADMINS)
    @audit_blp.arguments(AuditQueryArgs, location="query")
    @audit_blp.response(200, AuditEntrySchema(many=True))
    @audit_blp.paginate(page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE)
    def get(self, args, pagination_parameters):
        """List audit entries in your scope, newest first."""
        statement = queries.audit_select(args.get("object_type"), args.get("object_id"), args.get("actor"))
        return paginate_select(statement, pagination_parameters)


# What create_app() registers under /api/v1 (see the package's blueprints()).
BLUEPRINTS = (auth_blp, me_blp, users_blp, audit_blp)

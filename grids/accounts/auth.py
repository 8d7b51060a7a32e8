"""Authentication for every API request, and the caller's scope on the session.

One ``before_request`` hook: every endpoint under ``/api/v1`` needs a valid access
token except the public ones below; the user's scope is then set on the database
session (see ``core.scope``), which filters every query of the request.
"""
from __future__ import annotations

from datetime import timedelta

from flask import Flask, request
from flask_babel import lazy_gettext as _l
from flask_jwt_extended import current_user, verify_jwt_in_request

from core.errors import error_response
from core.extensions import db, jwt
from core.scope import set_scope
from grids.accounts import services
from grids.models import code_prefix

PUBLIC_ENDPOINTS = {
    "health", "auth.Token", "auth.Refresh", "swagger_ui_static",
    "api-docs.openapi_json", "api-docs.openapi_swagger_ui", "api-docs.openapi_redoc",
}


def configure(app: Flask) -> None:
    """JWT settings, token error responses and the authentication hook."""
    config = app.config
    config.setdefault("JWT_SECRET_KEY", config["SECRET_KEY"])
    config.setdefault("JWT_ACCESS_TOKEN_EXPIRES", timedelta(seconds=config["GRIDS_ACCESS_TOKEN_SECONDS"]))
    config.setdefault("JWT_REFRESH_TOKEN_EXPIRES", timedelta(seconds=config["GRIDS_REFRESH_TOKEN_SECONDS"]))
    config.setdefault("JWT_TOKEN_LOCATION", ["headers"])
    jwt.init_app(app)

    @jwt.user_lookup_loader
    def _load_user(_header, payload):
        return services.load_token_user(payload["sub"], payload.get("ver"))

    def _unauthorized(message):
        response = error_response(401, message)
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    jwt.unauthorized_loader(lambda _reason: _unauthorized(_l("Authentication is required.")))
    jwt.invalid_token_loader(lambda _reason: _unauthorized(_l("The token is invalid.")))
    jwt.expired_token_loader(lambda _h, _p: _unauthorized(_l("The token has expired.")))
    jwt.user_lookup_error_loader(lambda _h, _p: _unauthorized(_l("The account is inactive or the token revoked.")))
    jwt.needs_fresh_token_loader(lambda _h, _p: _unauthorized(_l("The token is invalid.")))
    jwt.revoked_token_loader(lambda _h, _p: _unauthorized(_l("The token is invalid.")))

    @app.teardown_request
    def _end_session(_error=None):
        # Discard what the request left uncommitted, and its scope, even when the app
        # context (and so the scoped session) outlives the request, as in tests.
        db.session.remove()

    @app.before_request
    def _authenticate():
        set_scope(db.session, None)
        if request.endpoint is None or request.endpoint in PUBLIC_ENDPOINTS \
                or not request.path.startswith("/api/v1/") or request.method == "OPTIONS":
            return None
        verify_jwt_in_request()
        set_scope(db.session, code_prefix(current_user.scope))
        return None

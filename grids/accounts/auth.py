"""Authentication for every API request, and the caller's scope on the session.

One ``before_request`` hook: every endpoint under ``/api/v1`` needs a valid access
token except the public ones below, and every endpoint under ``/ogc`` (OGC API –
Features, for GIS tools) a valid access token or HTTP Basic credentials of the same
accounts; the user's scope is then set on the database session (see
``core.scope``), which filters every query of the request.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections import OrderedDict
from datetime import timedelta

from flask import Flask, current_app, g, request
from flask_babel import lazy_gettext as _l
from flask_jwt_extended import get_current_user, verify_jwt_in_request
from limits import parse as parse_limit
from sqlalchemy import select

from core.errors import error_response
from core.extensions import db, jwt, limiter
from core.scope import set_scope
from grids.accounts import services
from grids.accounts.models import User
from grids.hierarchy import code_prefix

PUBLIC_ENDPOINTS = {
    "health", "auth.Token", "auth.Refresh", "auth.Logout", "swagger_ui_static",
    "api-docs.openapi_json", "api-docs.openapi_swagger_ui", "api-docs.openapi_redoc",
}
OGC_PREFIX = "/ogc"
# GIS clients are told both schemes work (GDAL's USERPWD and QGIS's basic auth send Basic).
OGC_CHALLENGE = 'Basic realm="grids", Bearer'
# Argon2 costs ~0.2 s a check, and a GIS client sends the same credentials with every page
# it fetches: a verified (username, password, stored hash) is trusted again for this long.
BASIC_CACHE_SECONDS = 300
BASIC_CACHE_SIZE = 1024
BASIC_CACHE = "grids_basic_auth_cache"  # key in app.extensions: one cache per app and process


def is_ogc_path(path: str) -> bool:
    """Whether a request path belongs to the OGC API."""
    return path == OGC_PREFIX or path.startswith(OGC_PREFIX + "/")


def caller() -> User:
    """The authenticated user of the current request (token or Basic credentials)."""
    return g.grids_caller


def configure(app: Flask) -> None:
    """JWT settings, token error responses and the authentication hook."""
    config = app.config
    config.setdefault("JWT_SECRET_KEY", config["SECRET_KEY"])
    config.setdefault("JWT_ACCESS_TOKEN_EXPIRES", timedelta(seconds=config["GRIDS_ACCESS_TOKEN_SECONDS"]))
    config.setdefault("JWT_REFRESH_TOKEN_EXPIRES", timedelta(seconds=config["GRIDS_REFRESH_TOKEN_SECONDS"]))
    config.setdefault("JWT_TOKEN_LOCATION", ["headers"])
    jwt.init_app(app)
    app.extensions[BASIC_CACHE] = OrderedDict()

    @jwt.user_lookup_loader
    def _load_user(_header, payload):
        return services.load_token_user(payload["sub"], payload.get("ver"), payload.get("sid"))

    def _unauthorized(message):
        return _unauthorized_response(message)

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
        if request.endpoint is None or request.method == "OPTIONS":
            return None
        if is_ogc_path(request.path):
            user = _ogc_user()
            if not isinstance(user, User):
                return user  # the 401 or 429 response
        elif request.path.startswith("/api/v1/") and request.endpoint not in PUBLIC_ENDPOINTS:
            verify_jwt_in_request()
            user = get_current_user()
        else:
            return None
        g.grids_caller = user
        set_scope(db.session, code_prefix(user.scope))
        return None


def _unauthorized_response(message):
    """A 401 in the error shape, naming the schemes the path accepts."""
    response = error_response(401, message)
    response.headers["WWW-Authenticate"] = OGC_CHALLENGE if is_ogc_path(request.path) else "Bearer"
    return response


def _ogc_user():
    """The user of an OGC request: a Bearer token as on the API, or HTTP Basic credentials.

    Returns the user, or the response to send instead (401, or 429 after too many failures).
    """
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        verify_jwt_in_request()  # no or another scheme: the token errors answer 401 as on the API
        return get_current_user()
    try:
        username, separator, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        separator = ""
    if not separator:
        return _unauthorized_response(_l("Malformed Basic credentials."))
    return _basic_user(username, password)


def _basic_user(username: str, password: str):
    """Check Basic credentials like a sign-in: same accounts, same rate limit on failures."""
    limit = parse_limit(current_app.config["GRIDS_LOGIN_RATE_LIMIT"])
    limit_key = f"{request.remote_addr}|{username}"
    address_limit = parse_limit(current_app.config["GRIDS_LOGIN_ADDRESS_RATE_LIMIT"])
    address_key = request.remote_addr or ""
    if not _within(limit, "ogc-basic", limit_key) or not _within(address_limit, "ogc-basic-address", address_key):
        return error_response(429)
    # The username's row decides: inactive accounts fail even while a cached check is fresh, and a
    # changed password changes the stored hash and so the cache key.
    user = db.session.scalar(select(User).where(User.username == username)
                             .execution_options(populate_existing=True))
    key = _cache_key(username, password, user.password_hash) if user is not None else None
    now = time.monotonic()
    if user is not None and user.active and current_app.extensions[BASIC_CACHE].get(key, 0.0) > now:
        return user
    try:
        user = services.authenticate(username, password)["user"]
    except services.Unauthorized as error:
        _count(limit, "ogc-basic", limit_key)
        _count(address_limit, "ogc-basic-address", address_key)
        return _unauthorized_response(error.message)
    _remember(_cache_key(username, password, user.password_hash), now + BASIC_CACHE_SECONDS)
    return user


def _within(limit, scope: str, key: str) -> bool:
    """Whether ``key`` is under ``limit``; an unreachable store does not lock anyone out (the
    database it lives in is then down, and the request fails on that)."""
    try:
        return limiter.limiter.test(limit, scope, key)
    except Exception:  # noqa: BLE001 - any storage failure: same policy as RATELIMIT_SWALLOW_ERRORS
        return True


def _count(limit, scope: str, key: str) -> None:
    try:
        limiter.limiter.hit(limit, scope, key)
    except Exception:  # noqa: BLE001 - see _within
        pass


def _cache_key(username: str, password: str, stored_hash: str) -> bytes:
    # Keyed with the app secret: the cache never holds anything a password could be read from.
    message = "\0".join((username, password, stored_hash)).encode()
    return hmac.new(current_app.config["SECRET_KEY"].encode(), message, hashlib.sha256).digest()


def _remember(key: bytes, until: float) -> None:
    cache = current_app.extensions[BASIC_CACHE]
    cache[key] = until
    cache.move_to_end(key)
    while len(cache) > BASIC_CACHE_SIZE:
        cache.popitem(last=False)

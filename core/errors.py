"""One error shape for the whole API (flask-smorest's) and typed domain errors.

Every error body is ``{"code", "status", "message", "errors"?}``.  Messages are
user-safe and translated (zh-CN / en, following ``Accept-Language``); the text of
an exception is never sent to the client.
"""
from __future__ import annotations

import http
import logging
from typing import Any

from flask import current_app, jsonify
from flask_babel import lazy_gettext as _l
from flask_smorest import Api
from marshmallow import INCLUDE, Schema, fields
from psycopg.errors import QueryCanceled
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException

from core.extensions import db
from core.messages import translate_errors

log = logging.getLogger(__name__)

# Default, translated messages per status, used when the code raising the
# error gave none of its own.
DEFAULT_MESSAGES = {
    400: _l("The request could not be understood."),
    401: _l("Authentication is required."),
    403: _l("You are not allowed to do this."),
    404: _l("The requested object was not found."),
    405: _l("This method is not allowed on this resource."),
    409: _l("The request conflicts with the current state of the data."),
    413: _l("The request body is too large."),
    415: _l("Unsupported media type; send JSON."),
    422: _l("The input is invalid; see the field errors."),
    429: _l("Too many requests; slow down."),
    500: _l("An internal error occurred; it has been logged."),
    503: _l("The service is temporarily unavailable; try again shortly."),
}


class DomainError(Exception):
    """A rule of the domain was broken; carries an HTTP status and a safe message."""

    status = 400

    def __init__(self, message: Any = None, *, errors: dict | None = None, status: int | None = None,
                 **extra: Any) -> None:
        # The message may be a lazy translation: keep it unevaluated until the response.
        super().__init__(self.__class__.__name__)
        self.message = message
        self.errors = errors
        self.extra = extra
        if status is not None:
            self.status = status


class NotFound(DomainError):
    """The object does not exist (or is outside the caller's scope)."""

    status = 404


class Conflict(DomainError):
    """The request conflicts with the stored state."""

    status = 409


class Invalid(DomainError):
    """Input that parses but breaks a rule; field errors go in ``errors``."""

    status = 422


class Forbidden(DomainError):
    """The caller is authenticated and in scope but may not do this."""

    status = 403


def error_body(status: int, message: Any = None, errors: dict | None = None, **extra: Any) -> dict:
    """Build the one error body shape."""
    body: dict[str, Any] = {"code": status, "status": http.HTTPStatus(status).phrase}
    text = message if message is not None else DEFAULT_MESSAGES.get(status)
    if text is not None:
        body["message"] = str(text)
    if errors:
        body["errors"] = translate_errors(errors)
    body.update(extra)
    return body


def error_response(status: int, message: Any = None, errors: dict | None = None, **extra: Any):
    """A JSON response in the error shape."""
    response = jsonify(error_body(status, message, errors, **extra))
    response.status_code = status
    return response


class GridsErrorSchema(Schema):
    """The one error shape (flask-smorest's, plus what domain errors add)."""

    class Meta:
        unknown = INCLUDE

    code = fields.Integer(metadata={"description": "HTTP status code"})
    status = fields.String(metadata={"description": "HTTP status name"})
    message = fields.String(metadata={"description": "What went wrong, in zh-CN or en (Accept-Language)"})
    errors = fields.Dict(metadata={"description": "Field errors, by location and field"})
    rule = fields.String(metadata={"description": "The domain rule that was broken (409s)"})
    criteria = fields.List(fields.Dict(), metadata={"description": "Failing certification criteria"})
    database = fields.String(metadata={"description": "Database state (health)"})


class GridsApi(Api):
    """flask-smorest Api whose HTTP errors carry translated messages."""

    ERROR_SCHEMA = GridsErrorSchema

    def __init__(self, app=None, *, spec_kwargs=None, **kwargs):
        from core import openapi  # (core.openapi imports geometry helpers that import this module's peers)

        spec_kwargs = {"marshmallow_plugin": openapi.GridsMarshmallowPlugin(), **(spec_kwargs or {})}
        super().__init__(app, spec_kwargs=spec_kwargs, **kwargs)
        openapi.register(self, app.config.get("GRIDS_CITY_BBOX") if app is not None else None)

    def handle_http_exception(self, error: HTTPException):
        status = error.code or 500
        data = getattr(error, "data", None) or {}
        message = data.get("message")
        # webargs puts field errors under "messages", keyed by location (json, query, ...).
        errors = data.get("errors") or data.get("messages")
        response = error_response(status, message, errors)
        headers = data.get("headers") or getattr(error, "headers", None) or {}
        for name, value in dict(headers).items():
            response.headers[name] = value
        if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response


def register_error_handlers(app) -> None:
    """Map domain and database exceptions onto the error shape."""

    @app.errorhandler(DomainError)
    def _domain_error(error: DomainError):
        return error_response(error.status, error.message, error.errors, **error.extra)

    @app.errorhandler(IntegrityError)
    def _integrity_error(error: IntegrityError):
        db.session.rollback()
        log.warning("integrity error: %s", getattr(getattr(error.orig, "diag", None), "message_primary", None))
        return error_response(409)

    @app.errorhandler(DataError)
    def _data_error(error: DataError):
        # A value the column cannot hold (out of range, malformed): the input's fault.
        db.session.rollback()
        log.info("data error: %s", getattr(getattr(error.orig, "diag", None), "message_primary", None))
        return error_response(422, _l("A value is out of range or malformed."))

    @app.errorhandler(OperationalError)
    def _database_unavailable(error: OperationalError):
        db.session.rollback()
        if isinstance(error.orig, QueryCanceled):  # the statement timeout
            log.error("statement timeout")
            return error_response(503, _l("The request took too long and was stopped; try a smaller one."))
        log.error("database unavailable: %s", error.__class__.__name__)
        return error_response(503)

    @app.errorhandler(DBAPIError)
    def _database_error(error: DBAPIError):
        db.session.rollback()
        current_app.logger.exception("database error")
        return error_response(500)

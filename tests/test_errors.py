"""The one error shape, translated messages, health (incl. the database down) and the API docs."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app import create_app
from core.errors import DEFAULT_MESSAGES
from core.extensions import db, limiter

CATALOGUE = Path(__file__).resolve().parent.parent / "translations" / "zh" / "LC_MESSAGES" / "messages.po"
UNREACHABLE_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"
TERRITORY_PATHS = ("/api/v1/regions", "/api/v1/regions/{code}", "/api/v1/grids", "/api/v1/grids/{code}",
                   "/api/v1/grids/locate", "/api/v1/grids/import")


def chinese(status: int) -> str:
    """The zh translation, from the catalogue, of the default message of ``status``."""
    with CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle)
    message = catalogue.get(str(DEFAULT_MESSAGES[status]._args[0]))
    assert message is not None and message.string, f"no translation for the {status} message"
    return message.string


def english(status: int) -> str:
    """The English default message of ``status``."""
    return str(DEFAULT_MESSAGES[status]._args[0])


def assert_error_shape(response, status: int, phrase: str) -> dict:
    """Check ``{"code", "status", "message", "errors"?}`` and the JSON content type; return the body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) - {"errors"} >= {"code", "status", "message"}
    assert body["code"] == status and body["status"] == phrase
    assert isinstance(body["message"], str) and body["message"]
    if "errors" in body:
        assert isinstance(body["errors"], dict) and body["errors"]
    return body


def test_catalogue_is_compiled():
    assert CATALOGUE.with_suffix(".mo").exists(), "run: .venv/bin/python scripts/translations.py compile"


def test_unknown_route_is_404(client):
    body = assert_error_shape(client.get("/api/v1/no-such-thing"), 404, "Not Found")
    assert body["message"] == english(404)
    assert "errors" not in body


def test_unknown_route_outside_the_api_is_404_too(anonymous_client):
    assert_error_shape(anonymous_client.get("/nowhere"), 404, "Not Found")


def test_method_not_allowed_is_405(client):
    response = client.delete("/api/v1/regions")
    body = assert_error_shape(response, 405, "Method Not Allowed")
    assert body["message"] == english(405)
    assert "GET" in response.headers["Allow"]


def test_body_too_large_is_413(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 100)
    payload = {"type": "FeatureCollection",
               "features": [{"type": "Feature", "properties": {"name": "x" * 200}}]}
    response = client.post("/api/v1/grids/import?dry_run=true", json=payload)
    body = assert_error_shape(response, 413, "Request Entity Too Large")
    assert body["message"] == english(413)


def test_body_under_the_limit_is_not_413(client, app, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    response = client.post("/api/v1/grids/import?dry_run=true",
                           json={"type": "FeatureCollection", "features": []})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_field_errors_are_422_by_location_and_field(client):
    response = client.get("/api/v1/grids/locate?lon=200&lat=north")
    body = assert_error_shape(response, 422, "Unprocessable Entity")
    assert body["message"] == english(422)
    assert set(body["errors"]["query"]) == {"lon", "lat"}
    assert all(isinstance(m, str) for messages in body["errors"]["query"].values() for m in messages)


def test_json_body_field_errors_are_under_json(client):
    response = client.post("/api/v1/grids/import", json={"type": "Feature"})
    body = assert_error_shape(response, 422, "Unprocessable Entity")
    assert set(body["errors"]["json"]) == {"type", "features"}


def test_malformed_json_is_400(client):
    response = client.post("/api/v1/grids/import", data='{"type": ', content_type="application/json")
    body = assert_error_shape(response, 400, "Bad Request")
    assert body["message"] == english(400)


def test_missing_token_is_401(anonymous_client):
    response = anonymous_client.get("/api/v1/regions")
    body = assert_error_shape(response, 401, "Unauthorized")
    assert body["message"] == english(401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("language", ["zh-CN", "zh", "zh-Hans", "zh-CN,zh;q=0.9,en;q=0.8"])
def test_messages_in_chinese(client, language):
    headers = {"Accept-Language": language}
    assert client.get("/api/v1/no-such-thing", headers=headers).get_json()["message"] == chinese(404)
    assert client.delete("/api/v1/regions", headers=headers).get_json()["message"] == chinese(405)
    assert client.get("/api/v1/grids/locate?lon=200&lat=30", headers=headers).get_json()["message"] \
        == chinese(422)


@pytest.mark.parametrize("language", ["en", "en-US", "en-GB,en;q=0.9,zh-CN;q=0.5"])
def test_messages_in_english(client, language):
    headers = {"Accept-Language": language}
    assert client.get("/api/v1/no-such-thing", headers=headers).get_json()["message"] == english(404)
    assert client.get("/api/v1/grids/locate?lon=200&lat=30", headers=headers).get_json()["message"] \
        == english(422)


def test_413_and_401_in_chinese(client, anonymous_client, app, monkeypatch):
    headers = {"Accept-Language": "zh-CN"}
    assert anonymous_client.get("/api/v1/regions", headers=headers).get_json()["message"] == chinese(401)
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 100)
    response = client.post("/api/v1/grids/import", data="x" * 500, content_type="application/json",
                           headers=headers)
    assert response.status_code == 413
    assert response.get_json()["message"] == chinese(413)


# Flask-Babel caches the locale on ``g``, which the test app context shares between the
# requests of one test, so each language gets a test of its own.
@pytest.mark.parametrize("language, expected", [
    ("zh-CN", "未找到行政区划 610999999999。"),
    ("en", "Region 610999999999 was not found."),
])
def test_domain_message_with_parameters(client, language, expected):
    response = client.get("/api/v1/regions/610999999999", headers={"Accept-Language": language})
    body = assert_error_shape(response, 404, "Not Found")
    assert body["message"] == expected


def test_default_language_is_english(client):
    response = client.get("/api/v1/regions/610999999999", headers={"Accept-Language": "fr-FR"})
    assert assert_error_shape(response, 404, "Not Found")["message"] == "Region 610999999999 was not found."


def test_health(anonymous_client):
    response = anonymous_client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


@pytest.fixture
def unreachable_app(monkeypatch):
    """An app whose database cannot be reached, with a session that really uses that app's engine."""
    # The limiter is one object: keep the test app's storage to put back (this app's is unreachable).
    storage = (limiter._storage, limiter._limiter)
    application = create_app({"SQLALCHEMY_DATABASE_URI": UNREACHABLE_DATABASE, "TESTING": True})
    # The conftest session is bound to the test database; give this app a session of its own.
    monkeypatch.setattr(db, "session", db._make_scoped_session({}))
    try:
        yield application
    finally:
        db.session.remove()
        limiter._storage, limiter._limiter = storage
        with application.app_context():
            db.engine.dispose()


def assert_no_internals(response) -> None:
    """The body reveals nothing about the driver, the address or a traceback."""
    text = response.get_data(as_text=True)
    for secret in ("psycopg", "Traceback", "127.0.0.1", "nowhere", "OperationalError", "postgresql"):
        assert secret not in text


def test_health_is_503_when_the_database_is_down(unreachable_app):
    response = unreachable_app.test_client().get("/api/v1/health")
    body = assert_error_shape(response, 503, "Service Unavailable")
    assert body["message"] == english(503)
    assert body.get("database") == "unavailable"
    assert_no_internals(response)


def test_health_503_in_chinese(unreachable_app):
    response = unreachable_app.test_client().get("/api/v1/health", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 503
    assert response.get_json()["message"] == chinese(503)


def test_api_is_503_when_the_database_is_down(client, unreachable_app):
    token = client.environ_base["HTTP_AUTHORIZATION"]  # same secret key: the token itself is valid
    response = unreachable_app.test_client().get("/api/v1/regions", headers={"Authorization": token})
    body = assert_error_shape(response, 503, "Service Unavailable")
    assert body["message"] == english(503)
    assert_no_internals(response)


def test_openapi_lists_the_territory_paths(anonymous_client):
    response = anonymous_client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = json.loads(response.get_data(as_text=True))
    assert spec["openapi"].startswith("3.")
    for path in TERRITORY_PATHS:
        assert path in spec["paths"], path
    assert "get" in spec["paths"]["/api/v1/grids/locate"]
    assert "post" in spec["paths"]["/api/v1/grids/import"]


def test_docs_use_local_swagger_assets(anonymous_client):
    response = anonymous_client.get("/api/v1/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "/api/v1/docs/static/swagger-ui-bundle.js" in html
    assert "/api/v1/openapi.json" in html
    assert "cdn" not in html.lower() and "https://" not in html
    bundle = anonymous_client.get("/api/v1/docs/static/swagger-ui-bundle.js")
    assert bundle.status_code == 200
    assert "javascript" in bundle.mimetype
    assert len(bundle.data) > 10_000
    assert anonymous_client.get("/api/v1/docs/static/swagger-ui.css").status_code == 200


def test_missing_docs_asset_is_404(anonymous_client):
    assert anonymous_client.get("/api/v1/docs/static/no-such-file.js").status_code == 404

"""Application factory: ``create_app()`` is the only entry point; nothing runs at import."""
from __future__ import annotations

from typing import Any

from flask import Flask, has_request_context, request, send_from_directory
from sqlalchemy import text

from config import load_config
from core.compressed_requests import GzipRequests
from core.converters import Id32Converter, Id64Converter
from core.errors import GridsApi, error_response, register_error_handlers
from core.extensions import babel, db, limiter, migrate
from core.observability import configure_logging, configure_metrics
from core.rate_limits import PostgresStorage  # noqa: F401 - registers the postgresql-limits:// storage
from core.scope import install_scope_filter

SUPPORTED_LOCALES = ("zh_CN", "en")


def _select_locale() -> str | None:
    """Pick zh_CN or en from Accept-Language (``zh``, ``zh-CN``, ``zh-Hans`` all mean zh_CN)."""
    if not has_request_context():
        return None
    for language, _quality in request.accept_languages:
        tag = language.lower().replace("_", "-")
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en"):
            return "en"
    return None


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Create and configure the Flask application."""
    app = Flask(__name__)
    app.config.update(load_config(config))
    app.json.ensure_ascii = False  # Chinese names stay readable in responses
    configure_logging(app)

    app.url_map.converters.update(id32=Id32Converter, id64=Id64Converter)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"), compare_type=True)
    babel.init_app(app, locale_selector=_select_locale,
                   default_translation_directories=app.root_path + "/translations")

    limiter.init_app(app)
    install_scope_filter()
    import outreach

    outreach.connect()

    from grids.accounts import auth

    auth.configure(app)
    from core.input import install_input_checks

    install_input_checks(app)
    api = GridsApi(app, spec_kwargs={"info": {"description": "Anti-fraud grid outreach backend"}})
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"})
    api.spec.options["security"] = [{"bearer": []}]
    register_error_handlers(app)
    configure_metrics(app)
    _register_blueprints(api)
    _register_ogc(app)
    _register_docs_assets(app)
    _register_dashboard(app)
    _register_fieldapp(app)
    _register_operations(app)
    _register_cli(app)
    # Phones on slow uplinks send their visit batches gzipped (inflated here, within the body limit).
    app.wsgi_app = GzipRequests(app.wsgi_app, app.config["MAX_CONTENT_LENGTH"])
    return app


def _register_blueprints(api: GridsApi) -> None:
    """Each package lists its own blueprints (``resources.BLUEPRINTS``); all live under /api/v1."""
    import grids
    import outreach

    for blueprint in (*grids.blueprints(), *outreach.blueprints()):
        api.register_blueprint(blueprint, url_prefix="/api/v1" + blueprint.url_prefix)


def _register_ogc(app: Flask) -> None:
    """OGC API – Features at /ogc: a plain blueprint, outside the /api/v1 OpenAPI (it has its own)."""
    from outreach.ogc.resources import blp as ogc_blp

    app.register_blueprint(ogc_blp)


def _register_docs_assets(app: Flask) -> None:
    """Serve Swagger UI from the installed package, not a CDN (phones and offices may be offline)."""
    import swagger_ui_bundle

    @app.get("/api/v1/docs/static/<path:filename>")
    def swagger_ui_static(filename: str):
        return send_from_directory(swagger_ui_bundle.swagger_ui_path, filename)


def _register_dashboard(app: Flask) -> None:
    """The supervisors' dashboard at ``/`` (static page; its data comes from the API)."""
    from dashboard.views import blp as dashboard_blp

    app.register_blueprint(dashboard_blp)


def _register_fieldapp(app: Flask) -> None:
    """The grid workers' offline-first field app at ``/m/`` (static PWA; its data comes from the API)."""
    from fieldapp.views import blp as fieldapp_blp

    app.register_blueprint(fieldapp_blp)


def _register_operations(app: Flask) -> None:
    @app.get("/api/v1/health")
    def health():
        """Liveness and database reachability."""
        try:
            db.session.execute(text("select 1"))
        except Exception:  # any failure to reach the database means "down", never a 500
            db.session.rollback()
            return error_response(503, database="unavailable")
        return {"status": "ok", "database": "ok"}


def _register_cli(app: Flask) -> None:
    """Each package names its command groups; outreach's seeders join grids' ``flask seed``."""
    import grids
    import outreach
    from core.cli import keys_cli
    from grids.cli import seed_cli

    for group in (keys_cli, *grids.commands(), *outreach.commands(seed_cli)):
        app.cli.add_command(group)

"""Serve the dashboard page, its own scripts and the map library installed from npm."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, make_response, render_template

from core.pages import secured, vendor_file

HERE = Path(__file__).resolve().parent
# Only the built files of each vendored package are served, never the rest of node_modules.
VENDOR = {"maplibre-gl": HERE / "node_modules" / "maplibre-gl" / "dist"}

# The page loads nothing from elsewhere; MapLibre runs its workers from blob: URLs.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:",
    "worker-src 'self' blob:", "child-src 'self' blob:", "connect-src 'self'", "frame-ancestors 'none'",
    "base-uri 'none'", "form-action 'self'", "object-src 'none'",
))

blp = Blueprint("dashboard", __name__, static_folder="static", static_url_path="/dashboard/static",
                template_folder="templates")


@blp.get("/")
def index():
    """The dashboard page (it signs in by itself; the page holds no data)."""
    page = make_response(render_template("dashboard.html",
                                         vendor_ready=(VENDOR["maplibre-gl"] / "maplibre-gl.js").exists()))
    return secured(page, CONTENT_SECURITY_POLICY)


@blp.get("/dashboard/vendor/<string:package>/<path:filename>")
def vendor(package: str, filename: str):
    """A file of a front-end package from npm (``make`` installs them into node_modules)."""
    return vendor_file(VENDOR, package, filename)

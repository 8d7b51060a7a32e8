"""Serve the field app's shell, manifest, service worker, scripts and npm libraries at ``/m/``."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, make_response, redirect, send_from_directory

from core.pages import secured, vendor_file

HERE = Path(__file__).resolve().parent
SHELL = HERE / "shell"
BUILD = HERE / "build"  # the Workbox service worker, written by `make fieldapp`
NODE_MODULES = HERE / "node_modules"
# Only the built files of each vendored package are served, never the rest of node_modules.
VENDOR = {"dexie": NODE_MODULES / "dexie" / "dist", "maplibre-gl": NODE_MODULES / "maplibre-gl" / "dist"}

# As the dashboard's: nothing from elsewhere; MapLibre runs its workers from blob: URLs; the
# manifest and the service worker come from this origin.
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:",
    "worker-src 'self' blob:", "child-src 'self' blob:", "connect-src 'self'", "manifest-src 'self'",
    "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "object-src 'none'",
))

blp = Blueprint("fieldapp", __name__, static_folder="static", static_url_path="/m/static")


def _secured(response):
    return secured(response, CONTENT_SECURITY_POLICY)


@blp.get("/m")
def bare():
    """The app lives under /m/ (the service worker's scope)."""
    return redirect("/m/", code=308)


@blp.get("/m/")
@blp.get("/m/index.html")
def index():
    """The app shell (it signs in by itself; the page holds no data)."""
    response = send_from_directory(SHELL, "index.html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return _secured(response)


@blp.get("/m/manifest.webmanifest")
def manifest():
    """The web app manifest (installable: name, icons, start URL and scope /m/)."""
    response = send_from_directory(SHELL, "manifest.webmanifest", mimetype="application/manifest+json", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@blp.get("/m/<string:name>.js")
def service_worker(name: str):
    """The service worker and the Workbox runtime it loads (always revalidated, so updates arrive)."""
    if not (name == "sw" or name.startswith("workbox-")) or not (BUILD / f"{name}.js").exists():
        abort(404)
    response = make_response(send_from_directory(BUILD, f"{name}.js", mimetype="text/javascript", max_age=0))
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/m/"
    return response


@blp.get("/m/vendor/<string:package>/<path:filename>")
def vendor(package: str, filename: str):
    """A file of a front-end package from npm (``make fieldapp`` installs them into node_modules)."""
    return vendor_file(VENDOR, package, filename)

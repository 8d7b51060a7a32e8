"""What the app's own browser pages share (the dashboard at ``/``, the field app at ``/m/``): their
security headers, and serving the built files of front-end packages installed from npm."""
from __future__ import annotations

from pathlib import Path

from flask import abort, send_from_directory


def secured(response, content_security_policy: str):
    """``response`` with the page's Content-Security-Policy and the headers that keep it out of frames,
    referrers and content sniffing."""
    response.headers["Content-Security-Policy"] = content_security_policy
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def vendor_file(vendor: dict[str, Path], package: str, filename: str):
    """A file of an allowed package's built folder (never the rest of node_modules), cached for a day."""
    if package not in vendor:
        abort(404)
    return send_from_directory(vendor[package], filename, max_age=24 * 3600)

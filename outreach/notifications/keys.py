"""The VAPID key pair Web Push is signed with, kept like the product's other keys: from
``GRIDS_VAPID_PRIVATE_KEY`` (production refuses to start without it), or in development generated on
first start into ``var/keys/vapid_private.pem`` (mode 600) by ``config.load_config``; never a constant."""
from __future__ import annotations

import base64
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from flask import Flask
from py_vapid import Vapid02

EXTENSION = "grids_vapid"


def vapid(app: Flask) -> Vapid02:
    """The application server's VAPID key (cached per app)."""
    key = app.extensions.get(EXTENSION)
    if key is None:
        configured = app.config.get("GRIDS_VAPID_PRIVATE_KEY")
        if configured:
            key = Vapid02.from_pem(configured.encode()) if "BEGIN" in configured else \
                Vapid02.from_string(configured)
        elif app.config.get("GRIDS_VAPID_KEY_FILE"):
            key = Vapid02.from_pem(Path(app.config["GRIDS_VAPID_KEY_FILE"]).read_bytes())
        else:
            raise RuntimeError("no VAPID key: set GRIDS_VAPID_PRIVATE_KEY")
        app.extensions[EXTENSION] = key
    return key


def public_key(app: Flask) -> str:
    """The public key as browsers take it (``applicationServerKey``): base64url of the uncompressed point."""
    raw = vapid(app).public_key.public_bytes(serialization.Encoding.X962,
                                             serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

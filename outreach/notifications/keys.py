"""The VAPID key pair Web Push is signed with: from the environment, or generated on first start and
kept under ``var/`` (mode 0600) like the product's other keys; never a constant."""
from __future__ import annotations

import base64
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from flask import Flask
from py_vapid import Vapid02

EXTENSION = "grids_vapid"


def _load_or_create(path: Path) -> bytes:
    """The PEM in ``path``, created atomically when absent (concurrent first starts agree on one key)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Vapid02()
        key.generate_keys()
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first: use theirs
        else:
            with os.fdopen(descriptor, "wb") as output:
                output.write(key.private_pem())
    return path.read_bytes()


def vapid(app: Flask) -> Vapid02:
    """The application server's VAPID key (cached per app)."""
    key = app.extensions.get(EXTENSION)
    if key is None:
        configured = app.config.get("GRIDS_VAPID_PRIVATE_KEY")
        if configured:
            key = Vapid02.from_pem(configured.encode()) if "BEGIN" in configured else \
                Vapid02.from_string(configured)
        else:
            key = Vapid02.from_pem(_load_or_create(Path(app.config["GRIDS_VAPID_KEY_FILE"])))
        app.extensions[EXTENSION] = key
    return key


def public_key(app: Flask) -> str:
    """The public key as browsers take it (``applicationServerKey``): base64url of the uncompressed point."""
    raw = vapid(app).public_key.public_bytes(serialization.Encoding.X962,
                                             serialization.PublicFormat.UncompressedPoint)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

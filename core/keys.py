"""Secrets: from the environment, or (development only) generated once under ``var/keys``.

Nothing secret is written in the source.  In development the signing key and the
phone-data keys are generated on first start, kept in files of mode 600 and reused;
an environment variable always wins; production refuses to start without them
(see ``config.load_config``).

Phone keys are a list: the first encrypts and hashes, every one decrypts, so a
rotation (``flask keys rotate-phone-key``) can re-encrypt while the service runs.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY_FILE = "secret_key"
PHONE_KEYS_FILE = "phone_keys"
METRICS_TOKEN_FILE = "metrics_token"


def key_dir() -> Path:
    """Where development keys live (``GRIDS_KEY_DIR``, default ``var/keys``)."""
    return Path(os.environ.get("GRIDS_KEY_DIR") or ROOT / "var" / "keys")


def new_key() -> str:
    """A fresh random key (384 bits, URL-safe text)."""
    return secrets.token_urlsafe(48)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 600), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def development_key_file(name: str) -> Path:
    """The file holding development key ``name``, created with a new key when missing."""
    path = key_dir() / name
    if not path.exists():
        write_private(path, new_key() + "\n")
    return path


def read_keys(text: str) -> list[str]:
    """Keys from a file's text (one a line) or an environment value (comma-separated)."""
    return [key.strip() for key in text.replace(",", "\n").splitlines() if key.strip()]

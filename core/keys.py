"""Secrets: from the environment, or (development only) generated once under ``var/keys``.

Nothing secret is written in the source.  In development the signing key and the
phone-data keys are generated on first start, kept in files of mode 600 and reused;
an environment variable always wins; production refuses to start without them
(see ``config.load_config``).

Phone keys are a list: the first encrypts and hashes, every one decrypts, so a
rotation (``flask keys rotate-phone-key``) can re-encrypt while the service runs.
The Web Push (VAPID) key is a P-256 private key in PEM.
"""
from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY_FILE = "secret_key"
PHONE_KEYS_FILE = "phone_keys"
METRICS_TOKEN_FILE = "metrics_token"
VAPID_KEY_FILE = "vapid_private.pem"


def key_dir() -> Path:
    """Where development keys live (``GRIDS_KEY_DIR``, default ``var/keys``)."""
    return Path(os.environ.get("GRIDS_KEY_DIR") or ROOT / "var" / "keys")


def new_key() -> str:
    """A fresh random key (384 bits, URL-safe text)."""
    return secrets.token_urlsafe(48)


def new_vapid_key() -> str:
    """A fresh VAPID key: a P-256 private key in PEM (PKCS #8)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def _write_temporary(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chmod(temporary, 0o600)
    return temporary


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (mode 600), atomically."""
    os.replace(_write_temporary(path, text), path)


def development_key_file(name: str, make: Callable[[], str] = lambda: new_key() + "\n") -> Path:
    """The file holding development key ``name``, created with ``make()`` when missing.

    Processes starting together (gunicorn's workers, the job worker) agree on one key: the file appears
    complete and only once (a hard link of a finished file, which fails when another got there first).
    """
    path = key_dir() / name
    if not path.exists():
        temporary = _write_temporary(path, make())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another process created it first: use theirs
        finally:
            temporary.unlink()
    return path


def vapid_key_problem(text: str) -> str | None:
    """Why ``text`` is not a usable VAPID private key (PEM, or base64url of the raw 32-byte scalar or of
    its DER), or None."""
    try:
        if "BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
            key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1()) if len(raw) == 32 else \
                serialization.load_der_private_key(raw, password=None)
    except ValueError:
        return "not a PEM or base64url private key"
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        return "not a P-256 (prime256v1) key"
    return None


def read_keys(text: str) -> list[str]:
    """Keys from a file's text (one a line) or an environment value (comma-separated)."""
    return [key.strip() for key in text.replace(",", "\n").splitlines() if key.strip()]

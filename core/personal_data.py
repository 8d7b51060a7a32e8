"""Phone numbers: encrypted at rest, a keyed hash for look-ups, masked on output.

The keys come from ``GRIDS_PHONE_KEY`` (comma-separated; any strings, stretched with
HKDF) or, in development, from the file ``var/keys/phone_keys`` (one a line), which is
re-read when it changes so a rotation reaches every worker while the service runs.
The first key encrypts and hashes; every key decrypts.  Plain numbers are never
stored or logged.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from functools import lru_cache

from cryptography.fernet import Fernet, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from core.keys import read_keys

PHONE = re.compile(r"^\+?[0-9]{7,15}$")
VISIBLE_DIGITS = 4  # a masked number never shows more than its last four digits
_FILE_CACHE = "grids_phone_key_file"  # app.extensions: (path, mtime, keys)


def phone_keys() -> list[str]:
    """The phone keys in force: the first encrypts and hashes, all decrypt."""
    config = current_app.config
    if config.get("GRIDS_PHONE_KEY"):
        return read_keys(config["GRIDS_PHONE_KEY"])
    path = config["GRIDS_PHONE_KEY_FILE"]
    modified = os.stat(path).st_mtime_ns
    cached = current_app.extensions.get(_FILE_CACHE)
    if cached is None or cached[0] != path or cached[1] != modified:
        with open(path, encoding="utf-8") as handle:
            cached = (path, modified, read_keys(handle.read()))
        current_app.extensions[_FILE_CACHE] = cached
    return cached[2]


@lru_cache(maxsize=16)
def _derive_from(material: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(material)


@lru_cache(maxsize=8)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(base64.urlsafe_b64encode(_derive_from(key.encode(), b"phone-encryption")))
                        for key in keys])


def phone_cipher(keys: list[str] | None = None) -> MultiFernet:
    """Encrypts with the first key, decrypts with any (``keys``: the ones in force)."""
    return _fernet(tuple(keys if keys is not None else phone_keys()))


def normalise_phone(phone: str) -> str:
    """Digits only (a leading +86 is dropped for mainland numbers)."""
    digits = re.sub(r"[\s\-()]", "", phone)
    if digits.startswith("+86"):
        digits = digits[3:]
    return digits


def mask_phone(phone: str) -> str:
    """``13812341234`` → ``*******1234``: never more than the last four digits, whatever the length
    (numbers of six digits or fewer show only their last two)."""
    visible = VISIBLE_DIGITS if len(phone) > 6 else 2
    return "*" * (len(phone) - visible) + phone[-visible:]


def phone_hash(phone: str, key: str | None = None) -> str:
    """A keyed hash (HMAC-SHA256) of the normalised number, for equality look-ups."""
    material = (key if key is not None else phone_keys()[0]).encode()
    return hmac.new(_derive_from(material, b"phone-hash"), normalise_phone(phone).encode(),
                    hashlib.sha256).hexdigest()


def encrypt_phone(phone: str) -> bytes:
    """Fernet ciphertext of the normalised number, under the current key."""
    return phone_cipher().encrypt(normalise_phone(phone).encode())


def decrypt_phone(token: bytes) -> str:
    """The plain number (only for a face-to-face dispatch that must call it)."""
    return phone_cipher().decrypt(token).decode()


def protect_phone(phone: str | None) -> dict[str, object]:
    """Column values for a phone number: ciphertext, keyed hash, masked form."""
    if not phone:
        return {"phone_encrypted": None, "phone_hash": None, "phone_masked": None}
    number = normalise_phone(phone)
    return {"phone_encrypted": encrypt_phone(number), "phone_hash": phone_hash(number),
            "phone_masked": mask_phone(number)}

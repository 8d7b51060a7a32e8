"""Phone numbers: encrypted at rest, a keyed hash for look-ups, masked on output.

The key comes from ``GRIDS_PHONE_KEY`` (any string; stretched with HKDF) or, in
development, from ``SECRET_KEY``.  Plain numbers are never stored or logged.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from functools import lru_cache

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

PHONE = re.compile(r"^\+?[0-9]{7,15}$")


def _key_material() -> bytes:
    secret = current_app.config.get("GRIDS_PHONE_KEY") or current_app.config["SECRET_KEY"]
    return secret.encode("utf-8")


@lru_cache(maxsize=8)
def _derive_from(material: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(material)


def _derive(purpose: bytes) -> bytes:
    return _derive_from(_key_material(), purpose)


def normalise_phone(phone: str) -> str:
    """Digits only (a leading +86 is dropped for mainland numbers)."""
    digits = re.sub(r"[\s\-()]", "", phone)
    if digits.startswith("+86"):
        digits = digits[3:]
    return digits


def mask_phone(phone: str) -> str:
    """``13812341234`` → ``138****1234``."""
    if len(phone) <= 7:
        return "*" * (len(phone) - 2) + phone[-2:]
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def phone_hash(phone: str) -> str:
    """A keyed hash (HMAC-SHA256) of the normalised number, for equality look-ups."""
    return hmac.new(_derive(b"phone-hash"), normalise_phone(phone).encode(), hashlib.sha256).hexdigest()


def encrypt_phone(phone: str) -> bytes:
    """Fernet ciphertext of the normalised number."""
    fernet = Fernet(base64.urlsafe_b64encode(_derive(b"phone-encryption")))
    return fernet.encrypt(normalise_phone(phone).encode())


def decrypt_phone(token: bytes) -> str:
    """The plain number (only for a face-to-face dispatch that must call it)."""
    fernet = Fernet(base64.urlsafe_b64encode(_derive(b"phone-encryption")))
    return fernet.decrypt(token).decode()


def protect_phone(phone: str | None) -> dict[str, object]:
    """Column values for a phone number: ciphertext, keyed hash, masked form."""
    if not phone:
        return {"phone_encrypted": None, "phone_hash": None, "phone_masked": None}
    number = normalise_phone(phone)
    return {"phone_encrypted": encrypt_phone(number), "phone_hash": phone_hash(number),
            "phone_masked": mask_phone(number)}

"""Phone key rotation: every stored phone re-encrypted (and re-hashed) under a new key
while the service runs.

During a rotation the keys in force are ``[new, old...]``: workers encrypt with the new
key and decrypt with either, so nothing becomes unreadable half-way.  Once every row is
re-encrypted (a second pass catches rows a worker wrote with the old key just before it
saw the new one), the old keys are retired.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import InvalidToken
from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import text

from core.errors import DomainError
from core.extensions import db
from core.keys import new_key, read_keys, write_private
from core.personal_data import phone_cipher, phone_hash, phone_keys

# Tables holding encrypted phones, and whether they keep a keyed hash beside them.
PHONE_TABLES = {"members": True, "warnings": False, "users": True}
BATCH = 2000


class RotationError(DomainError):
    """The keys are not set up for a rotation."""

    status = 409


def rotate_phone_key(progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """Re-encrypt every stored phone under a new key; returns rows re-encrypted per table.

    Development (keys in ``var/keys/phone_keys``): a new key is generated, put first, and
    the old ones removed at the end.  With ``GRIDS_PHONE_KEY`` set, the operator sets it to
    ``new,old`` on every process first; this re-encrypts under ``new`` and the operator then
    drops ``old`` from the environment.
    """
    config = current_app.config
    key_file = None
    if config.get("GRIDS_PHONE_KEY"):
        keys = read_keys(config["GRIDS_PHONE_KEY"])
        if len(keys) < 2:
            raise RotationError(_l("Set GRIDS_PHONE_KEY to the new key followed by the old one "
                                   "(comma-separated) on every process, then rotate."))
    else:
        key_file = config["GRIDS_PHONE_KEY_FILE"]
        keys = [new_key(), *phone_keys()]
        write_private_keys(key_file, keys)
    counts = {table: _reencrypt(table, hashed, keys, progress, only_stale=False)
              for table, hashed in PHONE_TABLES.items()}
    for table, hashed in PHONE_TABLES.items():  # rows written by a worker that had not seen the new key yet
        counts[table] += _reencrypt(table, hashed, keys, progress, only_stale=True)
    if key_file is not None:
        write_private_keys(key_file, keys[:1])
    return counts


def write_private_keys(path: str, keys: list[str]) -> None:
    """The key file: one key a line, the current one first, mode 600."""
    write_private(Path(path), "\n".join(keys) + "\n")


def _reencrypt(table: str, hashed: bool, keys: list[str], progress, only_stale: bool) -> int:
    cipher = phone_cipher(keys)
    current_only = phone_cipher(keys[:1])
    changed = 0
    last_id = 0
    while True:
        rows = db.session.execute(text(
            f"select id, phone_encrypted{', phone_hash' if hashed else ''} from {table}"  # noqa: S608 (fixed names)
            " where phone_encrypted is not null and id > :last order by id limit :batch"),
            {"last": last_id, "batch": BATCH}).all()
        if not rows:
            break
        last_id = rows[-1][0]
        updates = []
        for row in rows:
            token = bytes(row[1])
            if only_stale:
                try:
                    plain = current_only.decrypt(token).decode()
                    if not hashed or row[2] == phone_hash(plain, keys[0]):
                        continue
                except InvalidToken:
                    pass
            plain = cipher.decrypt(token).decode()
            update = {"id": row[0], "token": cipher.encrypt(plain.encode())}
            if hashed:
                update["hash"] = phone_hash(plain, keys[0])
            updates.append(update)
        if updates:
            db.session.execute(text(
                f"update {table} set phone_encrypted = :token{', phone_hash = :hash' if hashed else ''}"
                " where id = :id"), updates)
            db.session.commit()
        changed += len(updates)
        if progress is not None:
            progress(table, len(rows))
    return changed

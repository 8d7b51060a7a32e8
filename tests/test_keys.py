"""Keys: nothing constant signs tokens or protects phones; dev keys under var/keys; phone key rotation."""
from __future__ import annotations

import base64
import os
import shutil
import stat
from datetime import UTC, datetime, timedelta

import jwt as pyjwt
import pytest
from sqlalchemy import text

from config import load_config
from core.extensions import db
from core.keys import development_key_file, new_vapid_key, read_keys, vapid_key_problem
from core.personal_data import decrypt_phone, phone_hash
from core.phone_keys import rotate_phone_key
from tests.helpers import first_village

# The constant that signed development tokens before keys were generated.
OLD_CONSTANT = "development-only-secret-key-change-me-0123456789"


def _forged(kind: str) -> str:
    now = datetime.now(UTC)
    claims = {"sub": "admin", "type": kind, "role": "city_admin", "scope": "610900000000", "ver": 0,
              "iat": now, "nbf": now, "exp": now + timedelta(minutes=10), "jti": "forged", "fresh": False}
    return pyjwt.encode(claims, OLD_CONSTANT, algorithm="HS256")


def test_a_token_signed_with_the_old_constant_is_refused(anonymous_client):
    access = {"Authorization": "Bearer " + _forged("access")}
    assert anonymous_client.get("/api/v1/users", headers=access).status_code == 401
    assert anonymous_client.get("/ogc/collections", headers=access).status_code == 401
    refresh = {"Authorization": "Bearer " + _forged("refresh")}
    assert anonymous_client.post("/api/v1/auth/refresh", headers=refresh).status_code == 401


def test_no_constant_secret_in_the_source():
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    for path in [root / "config.py", *root.glob("core/*.py"), *root.glob("grids/**/*.py")]:
        assert OLD_CONSTANT not in path.read_text(encoding="utf-8"), path


def test_development_keys_are_generated_once_private_and_reused(monkeypatch, tmp_path):
    for name in ("SECRET_KEY", "GRIDS_PHONE_KEY", "GRIDS_VAPID_PRIVATE_KEY", "GRIDS_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GRIDS_KEY_DIR", str(tmp_path / "keys"))
    first = load_config()
    secret_file = tmp_path / "keys" / "secret_key"
    phone_file = tmp_path / "keys" / "phone_keys"
    vapid_file = tmp_path / "keys" / "vapid_private.pem"
    for path in (secret_file, phone_file, vapid_file):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
    assert len(first["SECRET_KEY"]) >= 32 and first["GRIDS_PHONE_KEY_FILE"] == str(phone_file)
    assert read_keys(phone_file.read_text()) != [first["SECRET_KEY"]]  # a separate key
    assert first["GRIDS_VAPID_KEY_FILE"] == str(vapid_file) and vapid_key_problem(vapid_file.read_text()) is None
    pem = vapid_file.read_text()
    again = load_config()
    assert again["SECRET_KEY"] == first["SECRET_KEY"] and vapid_file.read_text() == pem
    assert not [path for path in vapid_file.parent.iterdir() if path.name.endswith(".tmp")]
    # An environment variable wins over the file.
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("GRIDS_PHONE_KEY", "p" * 40)
    monkeypatch.setenv("GRIDS_VAPID_PRIVATE_KEY", new_vapid_key())
    from_env = load_config()
    assert from_env["SECRET_KEY"] == "s" * 40 and from_env["GRIDS_PHONE_KEY"] == "p" * 40
    assert from_env["GRIDS_VAPID_PRIVATE_KEY"] != pem


def test_a_vapid_key_left_by_an_earlier_version_moves_to_var_keys(monkeypatch, tmp_path):
    """Browsers subscribed with the key of var/vapid_private.pem keep receiving pushes."""
    import config

    for name in ("SECRET_KEY", "GRIDS_PHONE_KEY", "GRIDS_VAPID_PRIVATE_KEY", "GRIDS_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(config, "VAR_DIR", tmp_path)
    monkeypatch.setenv("GRIDS_KEY_DIR", str(tmp_path / "keys"))
    earlier = new_vapid_key()
    (tmp_path / "vapid_private.pem").write_text(earlier)
    loaded = load_config()
    assert loaded["GRIDS_VAPID_KEY_FILE"] == str(tmp_path / "keys" / "vapid_private.pem")
    assert (tmp_path / "keys" / "vapid_private.pem").read_text() == earlier
    assert stat.S_IMODE(os.stat(tmp_path / "keys" / "vapid_private.pem").st_mode) == 0o600
    assert not (tmp_path / "vapid_private.pem").exists()


def test_the_app_signs_pushes_with_the_kept_vapid_key(app, monkeypatch, tmp_path):
    """The public key browsers subscribe with is the one of the key file (the same across restarts)."""
    from cryptography.hazmat.primitives import serialization

    from outreach.notifications.keys import EXTENSION, public_key

    path = tmp_path / "vapid_private.pem"
    path.write_text(new_vapid_key())
    monkeypatch.setitem(app.config, "GRIDS_VAPID_PRIVATE_KEY", None)
    monkeypatch.setitem(app.config, "GRIDS_VAPID_KEY_FILE", str(path))
    monkeypatch.delitem(app.extensions, EXTENSION, raising=False)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        expected = key.public_key().public_bytes(serialization.Encoding.X962,
                                                 serialization.PublicFormat.UncompressedPoint)
        assert base64.urlsafe_b64decode(public_key(app) + "=") == expected
    finally:
        app.extensions.pop(EXTENSION, None)


def test_concurrent_first_starts_agree_on_one_key(monkeypatch, tmp_path):
    """Processes starting together (gunicorn workers, the job worker) end up with the same key."""
    import multiprocessing

    monkeypatch.setenv("GRIDS_KEY_DIR", str(tmp_path / "keys"))
    context = multiprocessing.get_context("fork")
    with context.Pool(4) as pool:
        paths = pool.map(_first_start, range(8))
    keys = {text for _path, text in paths}
    assert len(keys) == 1 and vapid_key_problem(keys.pop()) is None
    assert [path.name for path in (tmp_path / "keys").iterdir()] == ["vapid_private.pem"]


def _first_start(_index):
    path = development_key_file("vapid_private.pem", new_vapid_key)
    return str(path), path.read_text()


@pytest.mark.parametrize("missing", ["SECRET_KEY", "GRIDS_PHONE_KEY", "GRIDS_ADMIN_PASSWORD",
                                     "GRIDS_VAPID_PRIVATE_KEY"])
def test_production_refuses_to_start_without_each_secret(monkeypatch, tmp_path, missing):
    monkeypatch.setenv("GRIDS_KEY_DIR", str(tmp_path / "keys"))
    monkeypatch.setenv("GRIDS_ENV", "production")
    monkeypatch.delenv("GRIDS_TESTING", raising=False)
    for name in ("SECRET_KEY", "GRIDS_PHONE_KEY", "GRIDS_ADMIN_PASSWORD"):
        monkeypatch.setenv(name, "z" * 40)
    monkeypatch.setenv("GRIDS_VAPID_PRIVATE_KEY", new_vapid_key())
    assert load_config()["GRIDS_ENV"] == "production"  # all of them set: it starts
    monkeypatch.delenv(missing)
    with pytest.raises(RuntimeError, match=missing):
        load_config()
    assert not (tmp_path / "keys").exists()  # production never generates keys
    monkeypatch.setenv(missing, "short")
    if missing == "SECRET_KEY":
        with pytest.raises(RuntimeError, match="at least 32"):
            load_config()
    if missing == "GRIDS_VAPID_PRIVATE_KEY":
        with pytest.raises(RuntimeError, match="GRIDS_VAPID_PRIVATE_KEY is not a PEM"):
            load_config()
        rsa = rsa_key()
        monkeypatch.setenv(missing, rsa)
        with pytest.raises(RuntimeError, match="P-256"):
            load_config()


def rsa_key() -> str:
    """A private key of the wrong kind (RSA) in PEM."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.fixture
def own_phone_key_file(app, tmp_path, monkeypatch):
    """The app's phone key file copied aside, so a rotation in a test never touches var/keys."""
    path = tmp_path / "phone_keys"
    shutil.copy(app.config["GRIDS_PHONE_KEY_FILE"], path)
    monkeypatch.setitem(app.config, "GRIDS_PHONE_KEY_FILE", str(path))
    monkeypatch.setitem(app.config, "GRIDS_PHONE_KEY", None)
    return path


def test_rotating_the_phone_key_reencrypts_every_phone_while_both_keys_decrypt(client, own_phone_key_file):
    village = first_village("610902")
    numbers = ["13800000001", "13800000002", "13800000003"]
    for number in numbers:
        assert client.post("/api/v1/members", json={"name": "轮换", "phone": number, "kind": "party_member",
                                                    "village_code": village}).status_code == 201
    old_key = read_keys(own_phone_key_file.read_text())[0]
    before = dict(db.session.execute(text("select id, phone_encrypted from members where phone_encrypted "
                                          "is not null")).all())
    seen_during = []

    def progress(table, _rows):
        # Mid-rotation: the file holds new and old keys; every stored phone still decrypts.
        keys = read_keys(own_phone_key_file.read_text())
        seen_during.append(len(keys))
        for (token,) in db.session.execute(text(f"select phone_encrypted from {table} "
                                                "where phone_encrypted is not null")):
            decrypt_phone(bytes(token))

    counts = rotate_phone_key(progress)
    assert counts["members"] == len(before)
    assert seen_during and set(seen_during) == {2}
    keys = read_keys(own_phone_key_file.read_text())
    assert len(keys) == 1 and keys[0] != old_key
    rows = db.session.execute(text("select id, phone_encrypted, phone_hash from members "
                                   "where phone_encrypted is not null")).all()
    for member_id, token, stored_hash in rows:
        assert bytes(token) != bytes(before[member_id])
        plain = decrypt_phone(bytes(token))  # the new key alone
        assert stored_hash == phone_hash(plain, keys[0])
    new_numbers = {decrypt_phone(bytes(token)) for _id, token, _h in rows}
    assert set(numbers) <= new_numbers


def test_rotation_with_one_key_in_the_environment_is_refused(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "GRIDS_PHONE_KEY", "k" * 40)
    from core.phone_keys import RotationError

    with pytest.raises(RotationError):
        rotate_phone_key()

"""Account rules: sign-in, tokens, creating and changing users. The only place that commits."""
from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_jwt_extended import create_access_token, create_refresh_token
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from core.extensions import db
from core.personal_data import protect_phone
from core.scope import in_scope, set_scope
from grids import queries as territory
from grids.accounts import audit, queries
from grids.accounts.models import RevokedSession, User
from grids.accounts.roles import ADMINS, INDEPENDENT_ROLES, INDEPENDENT_ROLES_MANAGED_BY, RANK, ROLE_LEVELS
from grids.members.models import Member

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the username is unknown, so both paths cost the same (hashed on first use,
    not at import: ~0.2 s of every process start, worker and command)."""
    return _hasher.hash("not-a-real-password-0000")


class Unauthorized(DomainError):
    """Bad credentials or a token that is no longer valid."""

    status = 401


def hash_password(password: str) -> str:
    """An Argon2id hash of ``password``."""
    return _hasher.hash(password)


def _unscoped_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username)
                             .execution_options(populate_existing=True))


def tokens_for(user: User, with_refresh: bool = True, session: str | None = None) -> dict[str, Any]:
    """Access (and refresh) tokens carrying the user's role, scope, token version and session id
    (a new session unless ``session`` continues one, as a refresh does)."""
    claims = {"role": user.role, "scope": user.scope, "ver": user.token_version,
              "sid": session or str(uuid.uuid4())}
    expires = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    result = {
        "access_token": create_access_token(identity=user.username, additional_claims=claims),
        "token_type": "Bearer",
        "expires_in": int(expires.total_seconds()),
        "user": user,
    }
    if with_refresh:
        result["refresh_token"] = create_refresh_token(identity=user.username, additional_claims=claims)
    return result


def authenticate(username: str, password: str) -> dict[str, Any]:
    """Check credentials and issue tokens; 401 on any failure, with one message."""
    user = _unscoped_user(username)
    try:
        _hasher.verify(user.password_hash if user else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        user = None
    if user is None or not user.active:
        raise Unauthorized(_l("Wrong username or password."))
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        db.session.commit()
    return tokens_for(user)


def load_token_user(username: str, token_version: int | None, session: str | None = None) -> User | None:
    """The user a token names, if still active, the token not revoked by a reset or password change
    (except the session the change was made from), and its session not signed out."""
    revoked = select(RevokedSession.session_id).where(RevokedSession.session_id == (session or "")).exists()
    row = db.session.execute(select(User, revoked).where(User.username == username)
                             .execution_options(populate_existing=True)).first()
    if row is None:
        return None
    user, signed_out = row
    if not user.active or signed_out:
        return None
    current = user.token_version == token_version
    kept = session is not None and token_version == user.token_version - 1 and user.kept_session == session
    return user if current or kept else None


def logout(user: User, claims: dict[str, Any]) -> None:
    """End the session of a refresh token: it and the access tokens issued from it stop working."""
    session = claims.get("sid") or claims["jti"]
    expires = datetime.fromtimestamp(claims["exp"], UTC)
    db.session.execute(delete(RevokedSession).where(RevokedSession.expires_at < func.now()))  # expired anyway
    db.session.execute(pg_insert(RevokedSession).values(session_id=session, username=user.username,
                                                        expires_at=expires).on_conflict_do_nothing())
    audit.record("user.logout", "user", user.username, user.scope, {})
    db.session.commit()


def change_password(user: User, claims: dict[str, Any], old_password: str, new_password: str) -> None:
    """Change one's own password (the old one is required); every other session ends."""
    try:
        _hasher.verify(user.password_hash, old_password)
    except (VerificationError, InvalidHashError):
        raise Invalid(errors={"json": {"old_password": ["Wrong password."]}}) from None
    if old_password == new_password:
        raise Invalid(errors={"json": {"new_password": ["Must differ from the old password."]}})
    user.password_hash = hash_password(new_password)
    user.token_version += 1  # every token of every session stops working ...
    user.kept_session = claims.get("sid")  # ... except this session's
    audit.record("user.password_change", "user", user.username, user.scope, {})
    db.session.commit()


def _check_can_manage(actor: User, role: str) -> None:
    if actor.role not in ADMINS or RANK[role] >= RANK[actor.role]:
        raise Forbidden(_l("You may only manage users with a role below your own."))
    if role in INDEPENDENT_ROLES and actor.role != INDEPENDENT_ROLES_MANAGED_BY:
        raise Forbidden(_l("Only the city administrator manages reviewer and police accounts."),
                        rule="independent_role")


def create_user(actor: User | None, data: dict[str, Any]) -> User:
    """Create a user inside the actor's scope with a lower role (``actor`` None: the command line)."""
    if actor is not None:
        _check_can_manage(actor, data["role"])
    region = territory.region_by_code(data["scope"])  # scoped: unknown and out of scope look alike
    if region is None:
        raise Invalid(errors={"json": {"scope": ["Unknown region, or outside your scope."]}})
    if region.level not in ROLE_LEVELS[data["role"]]:
        raise Invalid(errors={"json": {"scope": [
            f"A {data['role']} must be scoped to a region of level {' or '.join(ROLE_LEVELS[data['role']])}."]}})
    member_id = data.get("member_id")
    if data["role"] == "grid_worker" and member_id is None:
        raise Invalid(errors={"json": {"member_id": ["A grid worker account belongs to a member."]}})
    if member_id is not None:
        member = db.session.get(Member, member_id)
        if member is None or not in_scope(db.session, member.village_code) \
                or not member.village_code.startswith(region.prefix):
            raise Invalid(errors={"json": {"member_id": ["Unknown member, or outside the user's scope."]}})
    if _unscoped_user(data["username"]) is not None:
        raise Conflict(_l("This username is taken."))
    user = User(username=data["username"], password_hash=hash_password(data["password"]), role=data["role"],
                scope=region.code, member_id=member_id, created_by=actor.username if actor else "cli",
                **protect_phone(data.get("phone")))
    db.session.add(user)
    audit.record("user.create", "user", user.username, region.code,
                 {"role": user.role, "scope": user.scope, "member_id": member_id},
                 actor=None if actor else "cli")
    db.session.commit()
    return user


def get_user(username: str) -> User:
    """A user in scope, or 404."""
    user = queries.user_by_username(username)
    if user is None:
        raise NotFound(_l("User %(username)s was not found.", username=username))
    return user


def update_user(actor: User, username: str, changes: dict[str, Any]) -> User:
    """Deactivate, reactivate, reset the password or set the phone of a user the actor manages."""
    user = get_user(username)
    _check_can_manage(actor, user.role)
    details: dict[str, Any] = {}
    if "active" in changes and changes["active"] != user.active:
        user.active = changes["active"]
        details["active"] = user.active
    if "password" in changes:
        user.password_hash = hash_password(changes["password"])
        details["password_reset"] = True
    if details:
        user.token_version += 1  # every token issued before the change stops working
        user.kept_session = None
    if "phone" in changes:  # (no session ends for it)
        for column, value in protect_phone(changes["phone"]).items():
            setattr(user, column, value)
        details["phone"] = user.phone_masked  # the audit log keeps the masked form only
    if details:
        audit.record("user.update", "user", user.username, user.scope, details)
        db.session.commit()
    return user


def ensure_admin(password: str | None, city_code: str) -> tuple[User, bool]:
    """Create the city administrator ``admin`` if missing; returns (user, created)."""
    set_scope(db.session, None)
    user = _unscoped_user("admin")
    if user is not None:
        return user, False
    if not password:
        raise Invalid(_l("GRIDS_ADMIN_PASSWORD is not set."))
    user = User(username="admin", password_hash=hash_password(password), role="city_admin", scope=city_code,
                created_by=None)
    db.session.add(user)
    audit.record("user.create", "user", "admin", city_code, {"role": "city_admin"}, actor="seed")
    db.session.commit()
    return user, True

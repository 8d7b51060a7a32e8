"""Helpers shared by tests: SQL on the test session, users of any role, tokens, and sample objects."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, text

from core.coords import wgs84_to_bd09, wgs84_to_gcj02
from core.extensions import db
from grids.accounts.models import User
from grids.accounts.services import create_user, tokens_for
from outreach.certification.services import import_certified
from outreach.visits.services import store_visits
from outreach.warnings.services import create_warnings

PASSWORD = "correct-horse-battery"


def sql(statement: str, **params):
    """Run SQL on the test session (inside the test's rolled-back transaction)."""
    return db.session.execute(text(statement), params)


def one(statement: str, **params):
    """The first row of a SQL query on the test session."""
    return sql(statement, **params).first()


def pagination(response) -> dict:
    """The decoded X-Pagination header of a list response."""
    assert response.status_code == 200, response.get_data(as_text=True)
    return json.loads(response.headers["X-Pagination"])


def auth(username: str) -> dict[str, str]:
    """Authorization header for ``username`` (token issued directly, no login)."""
    user = db.session.scalar(select(User).where(User.username == username))
    return {"Authorization": "Bearer " + tokens_for(user, with_refresh=False)["access_token"]}


def assert_error(response, status: int, field: str | None = None, location: str | None = "json",
                 rule: str | None = None) -> dict:
    """Check the one error shape (a field error under ``location``, or at the top of ``errors`` when it is
    None; a named broken rule); the body."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == status
    assert isinstance(body["status"], str) and body["status"]
    assert isinstance(body["message"], str) and body["message"]
    if field is not None:
        errors = body["errors"][location] if location else body["errors"]
        assert field in errors, body
    if rule is not None:
        assert body.get("rule") == rule, body
    return body


def to_crs(lon: float, lat: float, crs: str) -> tuple[float, float]:
    """A WGS84 point as a phone reporting in ``crs`` would send it."""
    if crs == "gcj02":
        return tuple(float(v) for v in wgs84_to_gcj02(lon, lat))
    if crs == "bd09":
        return tuple(float(v) for v in wgs84_to_bd09(lon, lat))
    return lon, lat


def bearer(app, username: str) -> str:
    """An Authorization header value for ``username``, outside a request (token issued directly)."""
    with app.app_context():
        return auth(username)["Authorization"]


def make_user(username: str, role: str, scope: str, member_id: int | None = None) -> User:
    """Create a user through the service, as the command line would."""
    return create_user(None, {"username": username, "password": PASSWORD, "role": role, "scope": scope,
                              "member_id": member_id})


def first_village(county: str) -> str:
    """The lowest village code of a county (6-digit code)."""
    return db.session.execute(text(
        "select min(code) from regions where level = 'village' and code like :p"), {"p": county + "%"}).scalar()


def member_in(village: str) -> int:
    """The id of a member living in ``village``."""
    return db.session.execute(text("select min(id) from members where village_code = :v"), {"v": village}).scalar()


def household_in(village: str) -> int:
    """The id of a household in ``village``."""
    return db.session.execute(text("select min(id) from households where village_code = :v"),
                              {"v": village}).scalar()


def tier3_in(village: str) -> str:
    """The lowest tier-3 cell code of ``village``."""
    return db.session.execute(text("select min(code) from grids where tier = 3 and village_code = :v"),
                              {"v": village}).scalar()


def assignment_in(village: str) -> int:
    """The id of a current assignment in ``village``."""
    return db.session.execute(text(
        "select min(id) from assignments where village_code = :v and valid_to is null"), {"v": village}).scalar()


def visit_in(village: str, at: datetime | None = None) -> str:
    """The id of a new completed visit to a household of ``village`` by its cell's chief (an hour ago,
    or at ``at``, stored as if the server clock were then)."""
    household, grid, lon, lat, member, county = db.session.execute(text("""
        select h.id, h.grid_code, ST_X(h.location), ST_Y(h.location), a.member_id, left(h.village_code, 6)
        from households h join assignments a on a.grid_code = h.grid_code and a.role = 'chief' and a.valid_to is null
        where h.village_code = :v order by h.id limit 1
    """), {"v": village}).one()
    visit_id = str(uuid.uuid4())
    item = {"id": visit_id, "household_id": household, "grid_code": grid, "outcome": "completed",
            "visited_at": (at or datetime.now(UTC) - timedelta(hours=1)).isoformat(),
            "location": {"lon": lon, "lat": lat, "crs": "wgs84", "accuracy_m": 10}}
    [result] = store_visits([item], [(member, county, "helper")], None, now=at + timedelta(hours=1) if at else None)
    assert result["status"] == "created", result
    return visit_id


def chief_visits(households: list[int], at: datetime, outcome: str = "completed", *, app: bool | None = None,
                 accuracy: float = 10.0, mocked: bool = False, gap: timedelta = timedelta(hours=1)) -> list[str]:
    """Visits to households by their cell's chief from ``at`` (``gap`` apart, so no travel looks impossible),
    stored through the sync service with the server clock just after them; returns the visit ids."""
    rows = db.session.execute(text("""
        select h.id, h.grid_code, ST_X(h.location) as lon, ST_Y(h.location) as lat, a.member_id, m.county_code
        from households h
        join assignments a on a.grid_code = h.grid_code and a.role = 'chief' and a.valid_to is null
        join members m on m.id = a.member_id
        where h.id = any(:ids)
    """), {"ids": households}).all()
    by_id = {row.id: row for row in rows}
    items, workers = [], []
    for index, household in enumerate(households):
        row = by_id[household]
        item = {"id": str(uuid.uuid4()), "household_id": row.id, "grid_code": row.grid_code, "outcome": outcome,
                "visited_at": (at + index * gap).isoformat(),
                "location": {"lon": row.lon, "lat": row.lat, "crs": "wgs84", "accuracy_m": accuracy,
                             "mocked": mocked}}
        if app is not None:
            item["app_installed"] = app
        items.append(item)
        workers.append((row.member_id, row.county_code, f"chief{row.member_id}"))
    results = store_visits(items, workers, None, now=at + len(items) * gap + timedelta(minutes=1))
    assert all(r["status"] == "created" for r in results), results
    return [item["id"] for item in items]


def certification_in(village: str) -> int:
    """The id of a (pre-system, imported) certification of ``village``."""
    certification = import_certified(village, datetime.now(UTC).date())
    db.session.flush()
    return certification.id


def case_in(village: str, **fields) -> int:
    """The id of a new fraud case recorded in ``village`` (through the service, as the police would)."""
    from outreach.cases.services import create_case

    data = {"occurred_on": datetime.now(UTC).date() - timedelta(days=2), "type": "investment", "loss_yuan": 500,
            "location": None, "village_code": village, **fields}
    case, _ = create_case(data, "test")
    return case.id


def warning_in(village: str) -> int:
    """The id of a new fund warning about a household of ``village``."""
    [(warning, _)] = create_warnings([{"external_ref": f"T-{uuid.uuid4().hex[:12]}", "level": "high",
                                       "reason": "investment", "household_id": household_in(village)}], "test")
    return warning.id


def task_force_person_in(village: str) -> tuple[int, int]:
    """(task force id, person id): the village's warning task force (created when the seed made none) with
    a new person on it."""
    force = db.session.execute(text("""
        insert into task_forces (region_code, level, name) select code, level, name || '预警处置专班' from regions
        where code = :v on conflict (region_code) do update set name = excluded.name returning id
    """), {"v": village}).scalar_one()
    person = db.session.execute(text("insert into task_force_people (task_force_id, name, role) "
                                     "values (:f, '测试', 'official') returning id"), {"f": force}).scalar_one()
    return force, person


# A tier-3 cell held by exactly one active member (routing sends its warnings to that member), who lives in
# the cell's village (so an account scoped to the village may be theirs; the optimiser also lends members to
# other villages of their county), with a household: (grid code, member id, household id, village code).
SINGLE_MEMBER_CELL = """
    select a.grid_code, min(a.member_id), min(h.id), min(h.village_code)
    from assignments a join members m on m.id = a.member_id and m.active
    join households h on h.grid_code = a.grid_code and h.removed_at is null
    where a.valid_to is null and right(a.grid_code, 3) <> '-00'
      and not exists (select from users u where u.member_id = a.member_id)
    group by a.grid_code
    having count(distinct a.member_id) = 1 and bool_and(m.village_code = left(a.grid_code, 12))
    order by a.grid_code limit 1
"""


def single_member_cell() -> tuple[str, int, int, str]:
    """A tier-3 cell whose warnings go to one member with no account yet (see SINGLE_MEMBER_CELL)."""
    return tuple(db.session.execute(text(SINGLE_MEMBER_CELL)).one())


def notification_for(user_id: int) -> int:
    """The id of a new notification (through the outbox) for the account ``user_id``."""
    from outreach.notifications import outbox

    cause = f"test:{uuid.uuid4().hex}"
    outbox.to_users([user_id], "lagging_alert", cause, "region", "610900000000", {"count": 1})
    return db.session.execute(text("select id from notifications where cause = :c"), {"c": cause}).scalar_one()


def push_subscription_for(user_id: int) -> int:
    """The id of a new (made-up) push subscription of the account ``user_id``."""
    return db.session.execute(text("""
        insert into push_subscriptions (user_id, endpoint, p256dh, auth)
        values (:u, 'https://push.example.invalid/' || gen_random_uuid(), 'key', 'auth') returning id
    """), {"u": user_id}).scalar_one()

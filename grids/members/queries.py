"""SQL of members: select builders (scope is applied by ``core.scope``) and the seeder's bulk reads and load."""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Select, select, text
from sqlalchemy.orm import defer, undefer

from core.extensions import db
from grids.members.models import Member


def members_select(prefix: str | None = None, kind: str | None = None, active: bool | None = None,
                   name_contains: str | None = None, with_home: bool = True) -> Select:
    """Members filtered by region prefix, kind, active flag and name."""
    statement = select(Member).order_by(Member.id)
    statement = statement.options(undefer(Member.home) if with_home else defer(Member.home))
    if prefix:
        statement = statement.where(Member.village_code.startswith(prefix, autoescape=True))
    if kind:
        statement = statement.where(Member.kind == kind)
    if active is not None:
        statement = statement.where(Member.active == active)
    if name_contains:
        statement = statement.where(Member.name.contains(name_contains, autoescape=True))
    return statement


def village_anchor_points() -> dict[str, tuple[float, float]]:
    """village code → (lon, lat) of its first household: where the village's cadres live."""
    rows = db.session.execute(text("""
        select village_code, ST_X(location), ST_Y(location) from households
        where id in (select min(id) from households group by village_code)
        order by village_code
    """)).all()
    return {village: (lon, lat) for village, lon, lat in rows}


def max_household_id() -> int:
    """The largest household id (0 when there are none)."""
    return db.session.execute(text("select max(id) from households")).scalar() or 0


def household_points(ids: list[int]) -> list[tuple]:
    """(village code, lon, lat) of the households with these ids, by id."""
    return db.session.execute(text(
        "select village_code, ST_X(location), ST_Y(location) from households "
        "where id = any(:ids) order by id"), {"ids": ids}).all()


def copy_members(rows: Iterable[tuple]) -> None:
    """Bulk-load members with COPY: (county, village, name, kind, phone encrypted, phone hash, phone masked,
    home as hex EWKB) per row."""
    cursor = db.session.connection().connection.driver_connection.cursor()
    with cursor.copy("copy members (county_code, village_code, name, kind, phone_encrypted, phone_hash, "
                     "phone_masked, home) from stdin") as copy:
        for row in rows:
            copy.write_row(row)

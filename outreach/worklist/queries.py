"""SQL of the worklist: the member's cells, their households and the watermark of changes."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from core.extensions import db


def watermark() -> datetime:
    """A time before which every committed change is visible: the oldest open transaction's start.

    Changes are then fetched with ``>=`` it: one stamped exactly at the watermark by a
    transaction still open now comes again next time rather than never.
    """
    return db.session.execute(text("""
        select least(now(), coalesce(min(xact_start), now())) from pg_stat_activity
        where datname = current_database() and xact_start is not null
          and backend_type = 'client backend'  -- autovacuum never writes what a worklist shows
    """)).scalar()


def worklist_cells(member_id: int, since: datetime | None) -> tuple[list[tuple], list[str]]:
    """(code, tier, name, role, GeoJSON, added since) of current cells; codes of cells dropped since."""
    current = db.session.execute(text("""
        select g.code, g.tier, g.name, min(a.role), ST_AsGeoJSON(g.boundary, 7)::json,
               bool_or(cast(:since as timestamptz) is null or a.valid_from >= :since)
        from assignments a join grids g on g.code = a.grid_code
        where a.member_id = :member and a.valid_to is null
        group by g.code, g.tier, g.name, g.boundary order by g.code
    """), {"member": member_id, "since": since}).all()
    removed: list[str] = []
    if since is not None:
        removed = [row[0] for row in db.session.execute(text("""
            select distinct grid_code from assignments
            where member_id = :member and valid_to >= :since
              and grid_code not in (select grid_code from assignments where member_id = :member and valid_to is null)
        """), {"member": member_id, "since": since})]
    return current, removed


def worklist_households(prefixes: list[str], since: datetime | None) -> list[tuple]:
    """Households under cell prefixes (changed since ``since`` when given), with their latest visits."""
    if not prefixes:
        return []
    return db.session.execute(text("""
        select h.id, h.grid_code, h.address, ST_AsGeoJSON(h.location, 7)::json, h.residents, h.tags,
               c.last_visit_at, c.last_completed_on, h.removed_at
        from households h
        left join household_coverage c on c.county_code = h.county_code and c.household_id = h.id
        where h.grid_code like any(cast(:likes as text[]))
          and (cast(:since as timestamptz) is null and h.removed_at is null
               or h.updated_at >= :since or h.removed_at >= :since or c.changed_at >= :since)
        order by h.grid_code, h.id
    """), {"likes": [p + "%" for p in prefixes], "since": since}).all()

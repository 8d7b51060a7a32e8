"""SQL of the assessment: per-group figures of a month that the coverage rollups do not hold,
responsible members of cells, and regions read regardless of scope (peers in a ranking)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select, text

from core.extensions import db
from core.scope import UNSCOPED
from grids.models import Region


def region_unscoped(code: str) -> Region | None:
    """A region by code, whatever the caller's scope (visibility is decided by the caller)."""
    return db.session.scalar(select(Region).where(Region.code == code).execution_options(**UNSCOPED))


def cases_by_group(prefix: str, length: int, start: date, end: date) -> dict[str, int]:
    """Cases (not voided) per group that occurred on local days [start, end]."""
    rows = db.session.execute(text("""
        select left(village_code, :length), count(*) from cases
        where village_code like :like and occurred_on between :start and :end and voided_at is null
        group by 1
    """), {"like": prefix + "%", "length": length, "start": start, "end": end}).all()
    return {key: int(n) for key, n in rows}


def grid_names(codes: list[str]) -> dict[str, tuple[str, int]]:
    """Cells by code: code → (name, tier)."""
    if not codes:
        return {}
    rows = db.session.execute(text("select code, name, tier from grids where code = any(:codes)"),
                              {"codes": codes}).all()
    return {code: (name, tier) for code, name, tier in rows}


def region_names(codes: list[str]) -> dict[str, tuple[str, str]]:
    """Regions by code: code → (name, level)."""
    if not codes:
        return {}
    rows = db.session.execute(text("select code, name, level from regions where code = any(:codes)"),
                              {"codes": codes}).all()
    return {code: (name, level) for code, name, level in rows}

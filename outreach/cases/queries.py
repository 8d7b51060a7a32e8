"""Case selects and summaries."""
from __future__ import annotations

from datetime import date

from sqlalchemy import Select, select, text
from sqlalchemy.orm import undefer

from core.extensions import db
from outreach.cases.models import Case


def cases_select(prefix: str | None, start: date | None, end: date | None, case_type: str | None,
                 voided: bool | None = None) -> Select:
    """Cases by region prefix, period, type and voided or not, newest first."""
    statement = select(Case).options(undefer(Case.location)).order_by(Case.occurred_on.desc(), Case.id.desc())
    if prefix:
        statement = statement.where(Case.village_code.startswith(prefix, autoescape=True))
    if start:
        statement = statement.where(Case.occurred_on >= start)
    if end:
        statement = statement.where(Case.occurred_on <= end)
    if case_type:
        statement = statement.where(Case.type == case_type)
    if voided is not None:
        statement = statement.where(Case.voided_at.is_not(None) if voided else Case.voided_at.is_(None))
    return statement


def unvoided_cases_since(village_code: str, since) -> int:
    """Cases recorded in a village at or after an instant that are not voided."""
    return db.session.execute(text(
        "select count(*) from cases where village_code = :v and created_at >= :since and voided_at is null"),
        {"v": village_code, "since": since}).scalar()


def case_by_external_ref(external_ref: str) -> Case | None:
    """The first case recorded under a police reference in the caller's scope (scoped: another
    scope's case is not found)."""
    return db.session.scalar(select(Case).where(Case.external_ref == external_ref)
                             .order_by(Case.created_at, Case.id).limit(1))


def village_of_point(lon: float, lat: float) -> str | None:
    """The village whose tier-1 cell covers a WGS84 point (unscoped)."""
    return db.session.execute(text("""
        select village_code from grids
        where tier = 1 and ST_Covers(boundary, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
        order by code limit 1
    """), {"lon": lon, "lat": lat}).scalar()


def cases_in_village_since(village_code: str, since: date) -> int:
    """Cases recorded in a village that occurred on or after ``since``."""
    return db.session.execute(text(
        "select count(*) from cases where village_code = :v and occurred_on >= :since and voided_at is null"),
        {"v": village_code, "since": since}).scalar()


def summary(prefix: str, child_length: int, child_level: str, start: date, end: date) -> list[tuple]:
    """(code, name, cases, loss, villages, villages with zero cases) per child region."""
    return db.session.execute(text("""
        with per_village as (
            select village_code, count(*) as cases, sum(loss_yuan) as loss from cases
            where village_code like :like and occurred_on between :start and :end and voided_at is null
            group by 1
        ), villages as (
            select r.code, left(r.code, :length) as key, coalesce(p.cases, 0) as cases, coalesce(p.loss, 0) as loss
            from regions r left join per_village p on p.village_code = r.code
            where r.level = 'village' and r.code like :like
        )
        select c.code, c.name, coalesce(sum(v.cases), 0), coalesce(sum(v.loss), 0), count(v.code),
               count(v.code) filter (where v.cases = 0)
        from regions c left join villages v on v.key = left(c.code, :length)
        where c.level = :level and c.code like :like
        group by c.code, c.name order by c.code
    """), {"like": prefix + "%", "start": start, "end": end, "length": child_length, "level": child_level}).all()


def cases_by_type(prefix: str, start: date, end: date) -> dict[str, int]:
    """Cases per type."""
    rows = db.session.execute(text("""
        select type, count(*) from cases
        where village_code like :like and occurred_on between :start and :end and voided_at is null
        group by 1
    """), {"like": prefix + "%", "start": start, "end": end})
    return dict(rows.all())

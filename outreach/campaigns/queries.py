"""Campaign selects and counts."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Select, select, text
from sqlalchemy.orm import undefer

from core.extensions import db
from outreach.campaigns.models import Campaign


def campaigns_select(prefix: str | None, kind: str | None, start: datetime | None, end: datetime | None) -> Select:
    """Campaigns by region prefix, kind and a half-open UTC interval, newest first."""
    statement = select(Campaign).options(undefer(Campaign.location)).order_by(Campaign.held_at.desc(),
                                                                               Campaign.id.desc())
    if prefix:
        statement = statement.where(Campaign.village_code.startswith(prefix, autoescape=True))
    if kind:
        statement = statement.where(Campaign.kind == kind)
    if start is not None:
        statement = statement.where(Campaign.held_at >= start)
    if end is not None:
        statement = statement.where(Campaign.held_at < end)
    return statement


def by_kind(prefix: str, start: datetime | None, end: datetime | None) -> dict[str, tuple[int, int, int, int]]:
    """kind → (campaigns, audience, materials, villages) under a prefix in a half-open interval."""
    rows = db.session.execute(text("""
        select kind, count(*), coalesce(sum(audience), 0), coalesce(sum(materials), 0), count(distinct village_code)
        from campaigns
        where village_code like :like
          and (cast(:start as timestamptz) is null or held_at >= :start)
          and (cast(:end as timestamptz) is null or held_at < :end)
        group by kind
    """), {"like": prefix + "%", "start": start, "end": end}).all()
    return {kind: (int(n), int(a), int(m), int(v)) for kind, n, a, m, v in rows}


def counts_by_group(prefix: str, length: int, start: date, end: date) -> dict[str, int]:
    """Campaigns per group (code prefix of ``length``) held on local days [start, end]."""
    rows = db.session.execute(text("""
        select left(village_code, :length), count(*) from campaigns
        where village_code like :like
          and held_at >= cast(:start as timestamp) at time zone 'Asia/Shanghai'
          and held_at < (cast(:end as timestamp) + interval '1 day') at time zone 'Asia/Shanghai'
        group by 1
    """), {"like": prefix + "%", "length": length, "start": start, "end": end}).all()
    return {key: int(n) for key, n in rows}

"""SQL of the assessment: per-group figures of months that the coverage rollups do not hold,
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


def month_figures(prefix: str, length: int, months: list[date]) -> dict[tuple[str, date], tuple]:
    """Per group (code prefix of ``length``) and local month (its first day), in one statement: (warnings
    issued, met, met on time, median minutes to meet, cases not voided, campaigns held)."""
    rows = db.session.execute(text("""
        with bounds as (
            select cast(min(m) as timestamp) at time zone 'Asia/Shanghai' as start,
                   (cast(max(m) as timestamp) + interval '1 month') at time zone 'Asia/Shanghai' as stop,
                   min(m) as first, (max(m) + interval '1 month')::date as after
            from unnest(cast(:months as date[])) m
        ), w as (
            select left(village_code, :length) as key,
                   date_trunc('month', created_at at time zone 'Asia/Shanghai')::date as month, count(*) as issued,
                   count(met_at) as met, count(*) filter (where met_at <= meet_deadline) as on_time,
                   percentile_cont(0.5) within group (order by extract(epoch from met_at - created_at) / 60)
                       filter (where met_at is not null) as median
            from warnings, bounds
            where village_code like :like and created_at >= bounds.start and created_at < bounds.stop
            group by 1, 2
        ), c as (
            select left(village_code, :length) as key, date_trunc('month', occurred_on)::date as month,
                   count(*) as cases
            from cases, bounds
            where village_code like :like and occurred_on >= bounds.first and occurred_on < bounds.after
              and voided_at is null
            group by 1, 2
        ), k as (
            select left(village_code, :length) as key,
                   date_trunc('month', held_at at time zone 'Asia/Shanghai')::date as month, count(*) as campaigns
            from campaigns, bounds
            where village_code like :like and held_at >= bounds.start and held_at < bounds.stop
            group by 1, 2
        ), keys as (
            select key, month from w union select key, month from c union select key, month from k
        )
        select keys.key, keys.month, coalesce(w.issued, 0), coalesce(w.met, 0), coalesce(w.on_time, 0), w.median,
               coalesce(c.cases, 0), coalesce(k.campaigns, 0)
        from keys
        left join w on w.key = keys.key and w.month = keys.month
        left join c on c.key = keys.key and c.month = keys.month
        left join k on k.key = keys.key and k.month = keys.month
        where keys.month = any(:months)
    """), {"like": prefix + "%", "length": length, "months": months}).all()
    return {(key, month): rest for key, month, *rest in rows}


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

"""Notifications the periodic jobs raise: certifications ending, and the morning lagging-cells alert.

Both are set-based INSERT … SELECTs into the outbox; the cause carries the day or the validity end, so
a job that runs twice (a retry) tells nobody twice.
"""
from __future__ import annotations

from datetime import date, timedelta

from flask import current_app

from core.extensions import db
from outreach.notifications import outbox


def certification_expiry(day: date, notice_days: int) -> int:
    """Each certified village whose validity ends within ``notice_days`` (or has ended) is told once per
    validity end: its village administrators and its township supervisors."""
    written = outbox.write("""
        select u.id as user_id, u.member_id, 'certification_expiring' as kind,
               'certification:' || c.id || ':expiring:' || c.valid_until as cause,
               'certification' as object_type, c.id::text as object_id,
               jsonb_build_object('certification_id', c.id, 'village_code', c.village_code, 'village', r.name,
                                  'valid_until', c.valid_until, 'expired', c.valid_until < :day) as params,
               false as urgent
        from certifications c join regions r on r.code = c.village_code
        join users u on u.active
         and ((u.role = 'village_admin' and u.scope = c.village_code)
              or (u.role = 'township_supervisor' and u.scope = left(c.village_code, 9) || '000'))
        where c.status = 'certified' and c.valid_until < :until
    """, {"day": day, "until": day + timedelta(days=notice_days)})
    db.session.commit()
    return written


def lagging_cells(day: date, days: int, listed: int = 10) -> int:
    """Each township supervisor gets the tier-3 cells of their township (with households) where no
    household had a completed visit in the last ``days`` days: the count and the first few codes."""
    written = outbox.write("""
        with lagging as (
            select left(g.village_code, 9) || '000' as township, g.code
            from grids g left join grid_coverage c on c.grid_code = g.code
            where g.tier = 3 and g.households > 0
              and (c.last_completed_on is null or c.last_completed_on < :since)
        ), per_township as (
            select township, count(*) as n, (array_agg(code order by code))[1:cast(:listed as int)] as cells
            from lagging group by township
        )
        select u.id as user_id, u.member_id, 'lagging_alert' as kind,
               'lagging:' || p.township || ':' || cast(:day as date) as cause,
               'region' as object_type, p.township as object_id,
               jsonb_build_object('region_code', p.township, 'region', r.name, 'count', p.n, 'cells', p.cells,
                                  'days', cast(:days as int), 'day', cast(:day as date)) as params,
               false as urgent
        from per_township p join regions r on r.code = p.township
        join users u on u.active and u.role = 'township_supervisor' and u.scope = p.township
    """, {"since": day - timedelta(days=days), "day": day, "days": days, "listed": listed})
    db.session.commit()
    current_app.logger.debug("lagging alert: %d notifications", written)
    return written

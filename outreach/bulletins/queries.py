"""SQL of bulletins: the month's cases with their villages, stored editions."""
from __future__ import annotations

from datetime import date

from sqlalchemy import select, text

from core.extensions import db
from core.scope import UNSCOPED
from outreach.bulletins.models import Bulletin


def cases_of_month(prefix: str, start: date, end: date, limit: int) -> list[tuple]:
    """(occurred_on, type, loss, village code, village name) of the standing cases in a period, newest first."""
    return db.session.execute(text("""
        select c.occurred_on, c.type, c.loss_yuan, c.village_code, r.name
        from cases c join regions r on r.code = c.village_code
        where c.village_code like :like and c.occurred_on between :start and :end and c.voided_at is null
        order by c.occurred_on desc, c.id desc limit :limit
    """), {"like": prefix + "%", "start": start, "end": end, "limit": limit}).all()


def latest_edition(region_code: str, period: date) -> Bulletin | None:
    """The latest stored edition of a region's bulletin for a month (visibility decided by the caller)."""
    return db.session.scalar(select(Bulletin).where(Bulletin.region_code == region_code, Bulletin.period == period)
                             .order_by(Bulletin.generated_at.desc(), Bulletin.id.desc()).limit(1)
                             .execution_options(**UNSCOPED))


def bulletin_regions() -> list[str]:
    """Codes of the regions that get a bulletin: the city, its counties and townships."""
    return list(db.session.scalars(text("""
        select code from regions where level in ('city', 'county', 'township') order by length(code), code
    """)))

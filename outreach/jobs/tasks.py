"""What each periodic job does (plain functions on the Flask app's session; the runner schedules them)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import current_app
from sqlalchemy import text

from core.clock import today
from core.extensions import db
from outreach.bulletins import services as bulletin_services
from outreach.notifications import alerts
from outreach.visits import queries as visit_queries
from outreach.visits import retention
from outreach.warnings import services as warning_services


def escalate_warnings() -> str:
    """Escalate every fund warning past its deadline (and tell the task force of the new level)."""
    return f"{warning_services.escalate()} escalated"


def visit_partitions(ahead: int = 3) -> str:
    """Create the monthly visit partitions up to ``ahead`` months from now."""
    now = datetime.now(UTC).date()
    months = []
    for offset in range(ahead + 1):
        year, month = divmod(now.month - 1 + offset, 12)
        months.append(date(now.year + year, month + 1, 1))
    visit_queries.ensure_partitions(months)
    db.session.commit()
    return "through " + months[-1].strftime("%Y-%m")


def certification_expiry() -> str:
    """Tell villages (and their township) whose fraud-free certification ends soon, or has ended."""
    return f"{alerts.certification_expiry(today(), current_app.config['GRIDS_CERTIFICATION_NOTICE_DAYS'])} told"


def lagging_alert() -> str:
    """The morning alert: each township supervisor gets the cells with no household visited lately."""
    return f"{alerts.lagging_cells(today(), current_app.config['GRIDS_LAGGING_DAYS'])} told"


def visit_retention() -> str:
    """Archive visit partitions older than ``GRIDS_VISIT_RETENTION_MONTHS`` to compressed files, then detach them."""
    archived = retention.archive_old_visit_partitions()
    return f"{len(archived)} archived"


def monthly_bulletins() -> str:
    """Publish last month's bulletin of the city, every county and every township."""
    return f"{bulletin_services.publish_month()} published"


def prune_job_history(keep_days: int = 14) -> str:
    """Forget finished jobs older than ``keep_days`` (the queue table stays small; job_stats keeps counts)."""
    deleted = db.session.execute(text("""
        delete from procrastinate_jobs j
        where j.status in ('succeeded', 'failed', 'cancelled', 'aborted')
          and not exists (select from procrastinate_events e where e.job_id = j.id and e.at > :before)
    """), {"before": datetime.now(UTC) - timedelta(days=keep_days)}).rowcount
    db.session.commit()
    return f"{deleted} removed"

"""What ``GET /jobs`` shows: each periodic job's schedule, last run, outcome and next run."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from croniter import croniter
from flask import current_app
from sqlalchemy import select, text

from core.extensions import db
from outreach.jobs.models import JobStats
from outreach.jobs.runner import JOBS, schedules


def list_jobs(now: datetime | None = None) -> list[dict[str, Any]]:
    """Every periodic job with its statistics and next run (UTC cron, answered with offsets).  The schedule is
    the one the worker last started with, else this process's configuration."""
    now = now or datetime.now(UTC)
    stats = {row.name: row for row in db.session.scalars(select(JobStats))}
    crons = schedules(current_app)
    waiting = dict(db.session.execute(text("""
        select task_name, count(*) from procrastinate_jobs where status = 'todo' group by task_name
    """)).all())
    rows = []
    for job in JOBS:
        stat = stats.get(job.name)
        cron = stat.schedule if stat and stat.schedule else crons[job.name]
        rows.append({
            "name": job.name, "description": job.description, "schedule": cron,
            "last_run_at": stat.last_run_at if stat else None, "last_status": stat.last_status if stat else None,
            "last_duration_ms": stat.last_duration_ms if stat else None,
            "last_error": stat.last_error if stat else None,
            "runs": stat.runs if stat else 0, "failures": stat.failures if stat else 0,
            "waiting": waiting.get(job.name, 0),
            "next_run_at": croniter(cron, now).get_next(datetime),
        })
    return rows


def workers_alive() -> int:
    """Workers whose heartbeat procrastinate saw in the last minute."""
    return db.session.execute(text("""
        select count(*) from procrastinate_workers where last_heartbeat > now() - interval '1 minute'
    """)).scalar_one()

"""The job runner: a procrastinate app on the product's own PostgreSQL, built from the Flask app.

Every periodic job is a procrastinate task with a cron schedule (UTC; a sixth field gives seconds),
a lock (a job never runs twice at once), and retries with exponential back-off.  Each run is recorded
in ``job_stats`` (count, failures, last run, duration, outcome) for ``GET /jobs`` and ``/metrics``.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import procrastinate
from flask import Flask
from sqlalchemy import text

from core.extensions import db
from outreach.jobs import tasks
from outreach.notifications.relay import libpq_url

log = logging.getLogger("grids.jobs")


@dataclass(frozen=True)
class Job:
    """A periodic job: its name, default schedule (cron, UTC) and body."""

    name: str
    schedule: str
    run: Callable[[], str]
    description: str


# 00:00 UTC is 08:00 in Asia/Shanghai: the morning alert reaches supervisors as the day starts.
JOBS = (
    Job("escalate_warnings", "* * * * *", tasks.escalate_warnings,
        "Fund warnings past their deadline move one level up (every minute)."),
    Job("visit_partitions", "10 19 * * *", tasks.visit_partitions,
        "Monthly visit partitions three months ahead (daily, 03:10 local)."),
    Job("certification_expiry", "30 0 * * *", tasks.certification_expiry,
        "Certifications ending within the notice period, or ended, are told to their village (08:30 local)."),
    Job("lagging_alert", "0 0 * * *", tasks.lagging_alert,
        "Morning alert of lagging cells to each township supervisor (08:00 local)."),
    Job("visit_retention", "20 19 * * *", tasks.visit_retention,
        "Visit partitions past the retention age archived to a compressed file, then detached (03:20 local)."),
    Job("monthly_bulletins", "0 1 1 * *", tasks.monthly_bulletins,
        "Last month's bulletins of the city, every county and township, on the 1st (09:00 local)."),
    Job("prune_job_history", "40 19 * * *", tasks.prune_job_history,
        "Finished jobs older than 14 days leave the queue table (03:40 local)."),
)
RETRY = procrastinate.RetryStrategy(max_attempts=5, exponential_wait=3)  # 9 s, 27 s, 81 s, 243 s


def schedules(app: Flask) -> dict[str, str]:
    """Each job's cron schedule: the default, or ``GRIDS_JOB_SCHEDULES`` (JSON name → cron)."""
    return {job.name: app.config["GRIDS_JOB_SCHEDULES"].get(job.name, job.schedule) for job in JOBS}


def record_run(name: str, started: float, status: str, error: str | None) -> None:
    """Add one run to the job's statistics (its own transaction: a failed job's rollback keeps it)."""
    db.session.rollback()
    db.session.execute(text("""
        insert into job_stats as s (name, runs, failures, last_run_at, last_status, last_duration_ms, last_error)
        values (:name, 1, :failed, :at, :status, :ms, :error)
        on conflict (name) do update set runs = s.runs + 1, failures = s.failures + excluded.failures,
            last_run_at = excluded.last_run_at, last_status = excluded.last_status,
            last_duration_ms = excluded.last_duration_ms, last_error = excluded.last_error
    """), {"name": name, "failed": int(status == "failed"), "status": status, "error": error,
           "at": datetime.fromtimestamp(started, UTC), "ms": int((time.time() - started) * 1000)})
    db.session.commit()


def publish_schedules(app: Flask) -> None:
    """Record the schedules this worker runs, so GET /jobs shows them (and the next runs they give)."""
    with app.app_context():
        for name, cron in schedules(app).items():
            db.session.execute(text("""
                insert into job_stats (name, schedule) values (:name, :cron)
                on conflict (name) do update set schedule = excluded.schedule
            """), {"name": name, "cron": cron})
        db.session.commit()
        db.session.remove()


def _runner(app: Flask, job: Job) -> Callable[[int], None]:
    def run(timestamp: int) -> None:
        started = time.time()
        with app.app_context():
            try:
                outcome = job.run()
            except Exception as error:
                log.exception("job %s failed", job.name)
                record_run(job.name, started, "failed", type(error).__name__)
                raise  # procrastinate retries it with back-off
            record_run(job.name, started, "succeeded", None)
            log.info("job %s: %s", job.name, outcome)
            db.session.remove()

    run.__name__ = job.name
    return run


def build(app: Flask) -> procrastinate.App:
    """The procrastinate app with every periodic job registered (nothing runs until a worker starts)."""
    connector = procrastinate.PsycopgConnector(conninfo=libpq_url(app), min_size=1, max_size=4)
    runner = procrastinate.App(connector=connector)
    crons = schedules(app)
    for job in JOBS:
        task = runner.task(name=job.name, retry=RETRY, queue="periodic")(_runner(app, job))
        # lock: runs of one job never overlap; queueing_lock: a late worker does not pile up runs.
        runner.periodic(cron=crons[job.name], lock=job.name, queueing_lock=job.name)(task)
    return runner

"""``flask jobs worker`` (the production command; ``make run`` starts it beside gunicorn),
``flask jobs list`` and ``flask jobs run NAME``."""
from __future__ import annotations

import logging
import os
import socket

import click
from flask import current_app
from flask.cli import AppGroup
from rich.console import Console
from rich.table import Table

from outreach.jobs import runner, services
from outreach.notifications.relay import Relay

jobs_cli = AppGroup("jobs", help="The job worker and periodic jobs.")
log = logging.getLogger("grids.jobs")


@jobs_cli.command("worker")
@click.option("--concurrency", type=click.IntRange(1, 32), default=None, help="Jobs run at once.")
def worker_command(concurrency: int | None) -> None:
    """Run the periodic jobs and deliver notifications until SIGINT/SIGTERM."""
    app = current_app._get_current_object()
    procrastinate_app = runner.build(app)
    runner.publish_schedules(app)
    relay = Relay(app)
    relay.start()
    name = f"{socket.gethostname()}-{os.getpid()}"
    log.info("worker %s started: %d periodic jobs, notification delivery on", name, len(runner.JOBS))
    try:
        # procrastinate stops gracefully on SIGINT/SIGTERM (running jobs finish), then the relay stops.
        procrastinate_app.run_worker(name=name, concurrency=concurrency or app.config["GRIDS_WORKER_CONCURRENCY"],
                                     wait=True, install_signal_handlers=True)
    finally:
        relay.stop()
        log.info("worker %s stopped", name)


@jobs_cli.command("list")
def list_command() -> None:
    """Print each periodic job's schedule, last run and next run."""
    table = Table("job", "schedule (UTC)", "last run", "status", "ms", "runs", "failures", "next run")
    for job in services.list_jobs():
        table.add_row(job["name"], job["schedule"], str(job["last_run_at"] or "-"), job["last_status"] or "-",
                      str(job["last_duration_ms"] or "-"), str(job["runs"]), str(job["failures"]),
                      job["next_run_at"].isoformat(timespec="seconds"))
    Console().print(table)


@jobs_cli.command("run")
@click.argument("name", type=click.Choice([job.name for job in runner.JOBS]))
def run_command(name: str) -> None:
    """Run one periodic job now, in this process (recorded like a scheduled run)."""
    import time

    job = next(job for job in runner.JOBS if job.name == name)
    started = time.time()
    try:
        outcome = job.run()
    except Exception as error:
        runner.record_run(name, started, "failed", type(error).__name__)
        raise
    runner.record_run(name, started, "succeeded", None)
    click.echo(f"{name}: {outcome}")

"""``flask seed visits``, ``flask visits partitions``, ``flask visits archive`` and ``load-archive``."""
from __future__ import annotations

import time
from datetime import UTC, date, datetime
from pathlib import Path

import click
from flask.cli import AppGroup
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import text

from core.errors import DomainError
from core.extensions import db
from outreach.certification.seed import seed_cases_and_certifications
from outreach.visits import queries, retention
from outreach.visits.history import seed_history
from outreach.visits.seed import seed_visits
from outreach.warnings.seed import seed_task_forces

visits_cli = AppGroup("visits", help="Visit storage.")


def register(seed_cli: AppGroup) -> None:
    """Add the visit seeders to the ``seed`` group."""

    @seed_cli.command("history")
    @click.option("--days", type=click.IntRange(1, 366), default=90, show_default=True)
    @click.option("--seed", "random_seed", type=int, default=11, show_default=True)
    @click.option("--if-empty", is_flag=True, help="Do nothing when visits, cases or task forces exist.")
    def seed_history_command(days: int, random_seed: int, if_empty: bool) -> None:
        """The lived-in default: DAYS of visits (in bulk), a year of cases, certifications, task forces."""
        console = Console(stderr=True)
        if if_empty and db.session.execute(text(
                "select exists (select 1 from visit_keys) or exists (select 1 from cases) "
                "or exists (select 1 from task_forces)")).scalar():
            console.print("a history is already present; not seeding")
            return
        timings: dict[str, float] = {}
        with Progress(TextColumn("{task.description:<22}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn(), console=console) as bar:
            tasks = {"history days": bar.add_task("visit history (days)", total=days),
                     "steps": bar.add_task("cases, titles, forces", total=3)}
            timings.update(seed_history(days, random_seed, lambda phase, n: bar.advance(tasks[phase], n)))
            bar.advance(tasks["steps"])
            started = time.perf_counter()
            figures = seed_cases_and_certifications(random_seed)
            timings["cases and certifications"] = time.perf_counter() - started
            bar.advance(tasks["steps"])
            started = time.perf_counter()
            forces = seed_task_forces(random_seed)
            timings["warning task forces"] = time.perf_counter() - started
            bar.advance(tasks["steps"])
        visits = db.session.execute(text("select count(*) from visit_keys")).scalar()
        table = Table("phase", "seconds")
        for phase, seconds in timings.items():
            table.add_row(phase, f"{seconds:.1f}")
        table.add_row("total", f"{sum(timings.values()):.1f}")
        console.print(table)
        console.print(f"{visits:,} visits over {days} days; {figures['cases']:,} cases, {figures['case_free']:,} of "
                      f"{figures['villages']:,} villages without one; {figures['certified']:,} villages certified "
                      f"({figures['certified'] / max(figures['villages'], 1):.1%}); {forces['task_forces']:,} "
                      f"task forces with {forces['people']:,} people")

    @seed_cli.command("visits")
    @click.option("--days", type=click.IntRange(1, 366), default=30, show_default=True)
    @click.option("--seed", "random_seed", type=int, default=7, show_default=True)
    def seed_visits_command(days: int, random_seed: int) -> None:
        """Generate a realistic visit history through the sync service."""
        console = Console(stderr=True)
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} days"),
                      TextColumn("{task.fields[visits]:,} visits"), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("visit history", total=days, visits=0)
            totals = {"visits": 0}

            def step(created: int) -> None:
                totals["visits"] += created
                bar.update(task, advance=1, visits=totals["visits"])

            created = seed_visits(days, random_seed, step)
        console.print(f"created {created:,} visits over {days} days")


@visits_cli.command("partitions")
@click.option("--ahead", type=click.IntRange(0, 36), default=3, show_default=True, help="Months ahead.")
def partitions_command(ahead: int) -> None:
    """Create the monthly visit partitions up to AHEAD months from now (the job worker does it daily)."""
    today = datetime.now(UTC).date()
    months = []
    for offset in range(ahead + 1):
        year, month = divmod(today.month - 1 + offset, 12)
        months.append(date(today.year + year, month + 1, 1))
    queries.ensure_partitions(months)
    db.session.commit()
    click.echo("partitions ready through " + months[-1].strftime("%Y-%m"))


@visits_cli.command("archive")
@click.option("--older-than-months", type=click.IntRange(1, 600), default=None,
              help="Archive months older than this (default GRIDS_VISIT_RETENTION_MONTHS).")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where archives go (default GRIDS_ARCHIVE_DIR).")
@click.option("--dry-run", is_flag=True, help="List what would be archived.")
def archive_command(older_than_months: int | None, directory: Path | None, dry_run: bool) -> None:
    """Archive old visit partitions to compressed files, then detach and drop them (run monthly)."""
    console = Console()
    try:
        with console.status("archiving visit partitions ...") as status:
            done = retention.archive_old_visit_partitions(
                older_than_months, directory, dry_run, progress=lambda name: status.update(f"archived {name}"))
    except DomainError as error:
        raise click.ClickException(f"{error.message or ''} {error.errors or ''}".strip()) from error
    if not done:
        console.print("no visit partition is old enough to archive")
    for item in done:
        where = "(dry run)" if dry_run else f"-> {item.path}"
        console.print(f"{item.partition}: {item.visits:,} visits, {item.keys:,} keys {where}")


@visits_cli.command("load-archive")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def load_archive_command(path: Path) -> None:
    """Load a visit archive back into its (empty) monthly partition."""
    try:
        with Console().status(f"loading {path.name} ..."):
            loaded = retention.load_visit_archive(path)
    except DomainError as error:
        raise click.ClickException(f"{error.message or ''} {error.errors or ''}".strip()) from error
    click.echo(f"{loaded.partition}: loaded {loaded.visits:,} visits and {loaded.keys:,} keys")

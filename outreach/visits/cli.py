"""``flask seed visits`` and ``flask visits partitions``."""
from __future__ import annotations

from datetime import UTC, date, datetime

import click
from flask.cli import AppGroup
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from core.extensions import db
from outreach.visits import queries
from outreach.visits.seed import seed_visits

visits_cli = AppGroup("visits", help="Visit storage.")


def register(seed_cli: AppGroup) -> None:
    """Add the visit seeder to the ``seed`` group."""

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

"""``flask bulletins publish``: the monthly bulletins of the city, every county and township."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from rich.progress import Progress

from outreach.bulletins import queries, services

bulletins_cli = AppGroup("bulletins", help="Monthly bulletins (通报).")


@bulletins_cli.command("publish")
@click.option("--period", help="YYYY-MM (default: last month)")
def publish(period: str | None) -> None:
    """Publish a month's bulletin for the city, every county and every township (monthly, from a scheduler)."""
    total = len(queries.bulletin_regions())
    with Progress() as progress:
        task = progress.add_task("bulletins", total=total)
        count = services.publish_month(period, progress=lambda: progress.advance(task))
    click.echo(f"{count} bulletins published")

"""``flask warnings escalate``: the pass the job worker runs every minute, by hand (replays, tests)."""
from __future__ import annotations

from datetime import datetime

import click
from flask.cli import AppGroup

from outreach.warnings import services

warnings_cli = AppGroup("warnings", help="Fund-warning dispatch.")


@warnings_cli.command("escalate")
@click.option("--now", "now_text", default=None, help="ISO time with offset to run as (tests, replays).")
def escalate_command(now_text: str | None) -> None:
    """Escalate every warning past its deadline one level up."""
    try:
        now = datetime.fromisoformat(now_text) if now_text else None
    except ValueError as error:
        raise click.BadParameter("not an ISO time, e.g. 2026-11-28T10:00:00+08:00", param_hint="--now") from error
    if now is not None and now.tzinfo is None:
        raise click.BadParameter("give an offset, e.g. 2026-11-28T10:00:00+08:00", param_hint="--now")
    moved = services.escalate(now)
    click.echo(f"escalated {moved} warning(s)")

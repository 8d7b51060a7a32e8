"""Command-line tools of the territory: ``flask seed ankang`` and ``flask grids import``."""
from __future__ import annotations

import json
import secrets
import sys

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from core.extensions import lift_statement_timeout
from grids import queries, services
from grids import seed as seeding
from grids.accounts import services as accounts
from grids.members.seed import member_count

# Seeding is batch work: its long statements run without the web's statement timeout.
seed_cli = AppGroup("seed", help="Generate the synthetic reference data set.",
                    callback=with_appcontext(lift_statement_timeout))
grids_cli = AppGroup("grids", help="Grid cell tools.")


def progress_bar(console: Console) -> Progress:
    """The progress display every long command uses."""
    return Progress(TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=False)


def run_seed(scale: float, seed: int, reset: bool, console: Console) -> dict[str, float]:
    """Seed with a progress display; shared by the CLI and the benchmark."""
    counts = seeding.scaled_counts(scale)
    with progress_bar(console) as progress:
        tasks = {
            "townships": progress.add_task("townships", total=counts["townships"]),
            "villages": progress.add_task("villages", total=counts["villages"]),
            "tier2": progress.add_task("tier-2 cells", total=counts["tier2"]),
            "tier3": progress.add_task("tier-3 cells", total=counts["tier3"]),
            "write": progress.add_task("regions and cells stored",
                                       total=1 + counts["counties"] + counts["townships"] + counts["villages"]
                                       + counts["tier1"] + counts["tier2"] + counts["tier3"]),
            "households": progress.add_task("households", total=counts["households"]),
            "members": progress.add_task("members", total=member_count(scale)),
            "assign": progress.add_task("chiefs assigned", total=1),
        }

        def step(phase: str, advance: int) -> None:
            progress.advance(tasks[phase], advance)

        return seeding.seed_ankang(scale=scale, seed=seed, reset=reset, step=step)


@seed_cli.command("ankang")
@click.option("--scale", type=float, default=None, help="1.0 = the full city (default GRIDS_SEED_SCALE).")
@click.option("--seed", "random_seed", type=int, default=20241, show_default=True, help="Random seed.")
@click.option("--reset", is_flag=True, help="Replace an existing territory.")
@click.option("--if-empty", is_flag=True, help="Do nothing when a territory is already stored.")
def seed_ankang_command(scale: float | None, random_seed: int, reset: bool, if_empty: bool) -> None:
    """Build the synthetic Ankang reference data set."""
    console = Console(stderr=True)
    if if_empty and not queries.database_is_empty():
        console.print("territory already present; not seeding")
        return
    scale = current_app.config["GRIDS_SEED_SCALE"] if scale is None else scale
    if scale <= 0 or scale > 1.0:
        raise click.BadParameter("scale must be in (0, 1]", param_hint="--scale")
    try:
        timings = run_seed(scale, random_seed, reset, console)
    except RuntimeError as error:
        raise click.ClickException(str(error)) from error
    _ensure_admin(console)
    table = Table("phase", "seconds")
    for phase, seconds in timings.items():
        table.add_row(phase, f"{seconds:.1f}")
    table.add_row("total", f"{sum(timings.values()):.1f}")
    console.print(table)


def _ensure_admin(console: Console) -> None:
    """Create ``admin`` with GRIDS_ADMIN_PASSWORD (in development a generated one, printed once)."""
    password = current_app.config["GRIDS_ADMIN_PASSWORD"]
    generated = not password
    if generated:
        password = secrets.token_urlsafe(12)
    _, created = accounts.ensure_admin(password, current_app.config["GRIDS_CITY_CODE"])
    if created and generated:
        console.print(f"created user admin with the generated password [bold]{password}[/bold] "
                      "(set GRIDS_ADMIN_PASSWORD to choose it)")


@grids_cli.command("import")
@click.argument("path", type=click.File("r", encoding="utf-8"))
@click.option("--dry-run", is_flag=True, help="Check only; write nothing.")
@click.option("--partial", is_flag=True, help="Write the accepted features even if others are rejected.")
def import_command(path, dry_run: bool, partial: bool) -> None:
    """Import grid cells from a GeoJSON FeatureCollection file."""
    try:
        collection = json.load(path)
    except json.JSONDecodeError as error:
        raise click.ClickException(f"not JSON: {error.msg} at line {error.lineno}") from error
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection" \
            or not isinstance(collection.get("features"), list):
        raise click.ClickException("not a GeoJSON FeatureCollection")
    result = services.import_grids(collection, dry_run=dry_run, partial=partial)
    console = Console()
    for rejection in result["rejected"]:
        console.print(f"feature {rejection['index']} ({rejection['code']}): "
                      f"[red]{rejection['reason']}[/red] {rejection['message']}")
    console.print(f"accepted {result['accepted']}, rejected {len(result['rejected'])}, "
                  f"written {result['written']}{' (dry run)' if dry_run else ''}")
    if result["rejected"] and not partial:
        sys.exit(1)

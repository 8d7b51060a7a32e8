"""``flask assign plan|apply --region CODE``: the optimiser from the command line."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from core.errors import DomainError
from grids.assignments import services

assign_cli = AppGroup("assign", help="Assign members to cells.")
STEPS = {"loaded": "building candidate graph", "candidates": "solving min-cost flow",
         "solve": "greedy baseline and storing", "stored": "done"}


def plan_with_progress(region: str, keep_existing: bool, console: Console):
    """Create a plan, showing its phases."""
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("loading cells and members", total=None)
        return services.create_plan(region, keep_existing, "cli",
                                    progress=lambda step: bar.update(task, description=STEPS.get(step, step)))


def _print_plan(console: Console, plan) -> None:
    console.print(f"plan {plan.id} for {plan.region_code}: {plan.covered:,}/{plan.cells:,} cells covered, "
                  f"total {plan.total_distance_km:,.1f} km (greedy {plan.greedy_total_distance_km:,.1f} km, "
                  f"{plan.greedy_covered:,} covered), {plan.changes:,} changes, {plan.solve_seconds:.1f} s, "
                  f"status {plan.status}")
    for item in plan.uncovered[:20]:
        console.print(f"  uncovered {item['grid_code']}: {item['reason']}")


@assign_cli.command("plan")
@click.option("--region", required=True, help="Region code.")
@click.option("--keep-existing/--no-keep-existing", default=True, show_default=True)
@click.option("--apply", "apply_now", is_flag=True, help="Apply the plan right away.")
def plan_command(region: str, keep_existing: bool, apply_now: bool) -> None:
    """Compute an optimal plan of chiefs for a region."""
    console = Console(stderr=True)
    try:
        plan = plan_with_progress(region, keep_existing, console)
        if apply_now:
            plan = services.apply_plan(plan.id, "cli")
    except DomainError as error:
        raise click.ClickException(str(error.message)) from error
    _print_plan(console, plan)


@assign_cli.command("apply")
@click.argument("plan_id", type=int)
def apply_command(plan_id: int) -> None:
    """Apply a plan."""
    try:
        plan = services.apply_plan(plan_id, "cli")
    except DomainError as error:
        raise click.ClickException(str(error.message)) from error
    _print_plan(Console(stderr=True), plan)

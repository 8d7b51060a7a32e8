"""``flask seed certification``: cases and certifications for the reference city."""
from __future__ import annotations

import click
from flask.cli import AppGroup
from rich.console import Console

from outreach.certification import queries
from outreach.certification.seed import seed_cases_and_certifications


def register(seed_cli: AppGroup) -> None:
    """Add the certification seeder to the ``seed`` group."""

    @seed_cli.command("certification")
    @click.option("--seed", "random_seed", type=int, default=3, show_default=True)
    @click.option("--if-empty", is_flag=True, help="Do nothing when cases or certifications exist.")
    def seed_certification_command(random_seed: int, if_empty: bool) -> None:
        """Record a year of cases and the certifications granted before this system."""
        console = Console(stderr=True)
        if if_empty and queries.cases_or_certifications_exist():
            console.print("cases or certifications already present; not seeding")
            return
        figures = seed_cases_and_certifications(random_seed)
        console.print(f"{figures['cases']:,} cases; {figures['case_free']:,} of {figures['villages']:,} villages "
                      f"without a case; {figures['certified']:,} certified "
                      f"({figures['certified'] / max(figures['villages'], 1):.0%})")

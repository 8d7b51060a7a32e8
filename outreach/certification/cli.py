"""``flask seed certification``: cases and certifications for the reference city."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import click
import numpy as np
from flask.cli import AppGroup
from rich.console import Console
from rich.progress import Progress

from core.clock import today
from core.extensions import db
from outreach.cases.models import CASE_TYPES, Case
from outreach.certification import queries, services

# The reference city reports 1,433 of 1,925 villages without a case and over 70 % certified.
ZERO_CASE_SHARE = 1433 / 1925
CERTIFIED_SHARE = 0.71


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
        rng = np.random.default_rng(random_seed)
        villages = queries.village_codes()
        with_cases = rng.random(len(villages)) >= ZERO_CASE_SHARE
        end = today()
        cases = certified = 0
        with Progress(console=console) as bar:
            task = bar.add_task("villages", total=len(villages))
            for village, has_cases in zip(villages, with_cases, strict=True):
                if has_cases:
                    for _ in range(1 + int(rng.poisson(0.6))):
                        db.session.add(Case(
                            county_code=village[:6], village_code=village, type=str(rng.choice(CASE_TYPES)),
                            occurred_on=end - timedelta(days=int(rng.integers(0, 365))),
                            loss_yuan=Decimal(int(rng.lognormal(9.5, 1.2))), reported_by="seed"))
                        cases += 1
                elif rng.random() < CERTIFIED_SHARE / ZERO_CASE_SHARE:
                    services.import_certified(village, end - timedelta(days=int(rng.integers(10, 330))))
                    certified += 1
                bar.advance(task)
        db.session.commit()
        total = queries.certification_count()
        console.print(f"{cases:,} cases in {int(with_cases.sum()):,} villages; {certified:,} villages certified "
                      f"({total / len(villages):.0%})")

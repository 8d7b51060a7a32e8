"""Activity on the territory: visits, the worklist, coverage, cases, certification, fund warnings, tiles,
OGC API, publicity campaigns, assessment (scorecard, rankings, targets), bulletins, notifications and the job
runner (imports from ``grids``, never the reverse)."""
from __future__ import annotations

from importlib import import_module

# Packages with /api/v1 endpoints, in the order their operations appear in the OpenAPI document.
PACKAGES = ("outreach.worklist", "outreach.visits", "outreach.coverage", "outreach.certification", "outreach.cases",
            "outreach.warnings", "outreach.tiles", "outreach.campaigns", "outreach.assessment", "outreach.bulletins",
            "outreach.notifications", "outreach.jobs")


def blueprints() -> list:
    """Every /api/v1 blueprint of the activity packages (each ``resources.BLUEPRINTS``), for ``create_app``."""
    return [blueprint for package in PACKAGES for blueprint in import_module(package + ".resources").BLUEPRINTS]


def commands(seed_cli) -> list:
    """Outreach's command groups (``warnings``, ``bulletins``, ``visits``); its seeders join grids' ``seed``
    group."""
    from outreach.bulletins.cli import bulletins_cli
    from outreach.certification import cli as certification_cli
    from outreach.jobs.cli import jobs_cli
    from outreach.visits import cli as visits_cli
    from outreach.warnings.cli import warnings_cli

    visits_cli.register(seed_cli)
    certification_cli.register(seed_cli)
    return [warnings_cli, bulletins_cli, visits_cli.visits_cli, jobs_cli]


def connect() -> None:
    """Subscribe outreach to the signals ``grids`` sends (idempotent; called by ``create_app``)."""
    from outreach.coverage import signals as coverage_signals
    from outreach.visits import signals as visit_signals

    visit_signals.connect()
    coverage_signals.connect()
    from outreach.notifications import signals as notification_signals

    notification_signals.connect()

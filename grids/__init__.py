"""Territory and people: regions and grid cells, and one package per subject (accounts, members,
households, assignments).  ``grids`` never imports ``outreach``; outreach follows grids' changes
through signals (``grids.households.signals``)."""
from __future__ import annotations

from importlib import import_module

# Packages with HTTP endpoints, in the order their operations appear in the OpenAPI document.
PACKAGES = ("grids.accounts", "grids", "grids.members", "grids.households", "grids.assignments")


def blueprints() -> list:
    """Every blueprint of the territory packages (each ``resources.BLUEPRINTS``), for ``create_app``."""
    return [blueprint for package in PACKAGES for blueprint in import_module(package + ".resources").BLUEPRINTS]


def commands() -> list:
    """The territory's command groups: ``flask seed``, ``grids``, ``users``, ``assign``."""
    from grids.accounts.cli import users_cli
    from grids.assignments.cli import assign_cli
    from grids.cli import grids_cli, seed_cli

    return [seed_cli, grids_cli, users_cli, assign_cli]

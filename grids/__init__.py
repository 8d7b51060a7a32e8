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

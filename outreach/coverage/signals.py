"""Keep the coverage rollups in step with household changes made in ``grids`` (signals, same transaction)."""
from __future__ import annotations

from grids.households import signals
from outreach.coverage import rollups


def _vulnerability_changed(household, was_vulnerable: bool) -> None:
    rollups.follow_vulnerability(household.county_code, household.id, not was_vulnerable)


def _removed(household) -> None:
    rollups.forget_household(household.county_code, household.id)


def connect() -> None:
    """Subscribe the rollup handlers (idempotent; called by ``create_app``)."""
    signals.vulnerability_changed.connect(_vulnerability_changed, weak=False)
    signals.household_removed.connect(_removed, weak=False)

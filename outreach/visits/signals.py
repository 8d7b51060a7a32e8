"""Keep the visit rollups in step with household changes made in ``grids`` (signals, same transaction)."""
from __future__ import annotations

from grids.households import signals
from outreach.visits import queries


def _vulnerability_changed(household, was_vulnerable: bool) -> None:
    queries.follow_vulnerability(household.county_code, household.id, not was_vulnerable)


def _removed(household) -> None:
    queries.forget_household(household.county_code, household.id)


def connect() -> None:
    """Subscribe the rollup handlers (idempotent; called by ``create_app``)."""
    signals.vulnerability_changed.connect(_vulnerability_changed, weak=False)
    signals.household_removed.connect(_removed, weak=False)

"""Keep the coverage rollups in step with household changes made in ``grids`` (signals, same transaction)."""
from __future__ import annotations

from grids import signals as territory_signals
from grids.households import signals
from outreach.coverage import models, rollups


def _vulnerability_changed(household, was_vulnerable: bool) -> None:
    rollups.follow_vulnerability(household.county_code, household.id, not was_vulnerable)


def _removed(household) -> None:
    rollups.forget_household(household.county_code, household.id)


def _tables(_sender) -> list[str]:
    return [model.__tablename__ for model in (models.HouseholdCoverage, models.HouseholdVisitDay, models.GridCoverage,
                                              models.GridDayCount, models.VillageDayCount, models.LastCompletedCount,
                                              models.HouseholdVisitMonth, models.VillageMonthCount,
                                              models.VillageAppCount)]


def connect() -> None:
    """Subscribe the rollup handlers (idempotent; called by ``outreach.connect``)."""
    territory_signals.territory_reset.connect(_tables, weak=False)
    signals.vulnerability_changed.connect(_vulnerability_changed, weak=False)
    signals.household_removed.connect(_removed, weak=False)

"""Cases and certifications of the reference city, reproducing the article's picture.

安康 reports (2023): 1,433 of its villages without a telecom-fraud case in the first
half of the year and fraud-free (无诈) creation above 70 % of villages.  Scaled to the
villages stored: exactly ``round(villages × 1433 / 1924)`` villages have no case in
the past year; every other village has at least one case in the first half of this
year (more through the year); certifications granted before the system go to 71.5 %
of all villages, drawn among the case-free ones (a case would have cost them the title).
"""
from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np

from core.clock import today
from core.extensions import db
from outreach.cases.models import CASE_TYPES, Case
from outreach.certification import queries, services

ZERO_CASE_VILLAGES, VILLAGES = 1433, 1924  # the article's count against the 2023 codes
CERTIFIED_SHARE = 0.715


def seed_cases_and_certifications(seed: int = 3) -> dict[str, int]:
    """Record a year of cases and the pre-system certifications; returns the counts."""
    rng = np.random.default_rng(seed)
    villages = queries.village_codes()
    total = len(villages)
    zero = round(total * ZERO_CASE_VILLAGES / VILLAGES)
    order = rng.permutation(total)
    case_free = sorted(villages[i] for i in order[:zero])
    with_cases = [villages[i] for i in order[zero:]]
    end = today()
    first_half = (date(end.year, 1, 1), min(date(end.year, 6, 30), end))
    cases = []
    for village in with_cases:
        # One case in the first half of the year, more (Poisson) anywhere in the past year.
        days = [first_half[0] + timedelta(days=int(rng.integers(0, (first_half[1] - first_half[0]).days + 1)))]
        days += [end - timedelta(days=int(rng.integers(0, 365))) for _ in range(int(rng.poisson(0.6)))]
        for day in days:
            cases.append(Case(county_code=village[:6], village_code=village, type=str(rng.choice(CASE_TYPES)),
                              occurred_on=day, loss_yuan=Decimal(int(rng.lognormal(9.5, 1.2))), reported_by="seed"))
    db.session.add_all(cases)
    certified = rng.choice(len(case_free), size=min(len(case_free), round(total * CERTIFIED_SHARE)), replace=False)
    for index in sorted(certified.tolist()):
        services.import_certified(case_free[index], end - timedelta(days=int(rng.integers(10, 330))))
    db.session.commit()
    return {"villages": total, "case_free": zero, "cases": len(cases), "certified": len(certified)}

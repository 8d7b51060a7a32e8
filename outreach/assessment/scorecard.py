"""The versioned scorecard: reading, adding a version, and scoring a region's component values."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from core.clock import LOCAL
from core.errors import Invalid, NotFound
from core.extensions import db
from grids.accounts import audit
from outreach.assessment.models import COMPONENTS, Scorecard


def current_scorecard() -> Scorecard:
    """The latest scorecard version."""
    scorecard = db.session.scalar(select(Scorecard).order_by(Scorecard.version.desc()))
    if scorecard is None:
        raise NotFound(_l("No scorecard is defined."))
    return scorecard


def scorecard_in_force(last_day: date) -> Scorecard:
    """The version in force for a month: the latest one added before the month ended (local time).

    A month is scored on the version its bulletin was (or would have been) published under,
    so a later version never re-scores history; for the month under way that is the latest.
    Months before the first version are scored on the first (the defaults, version 1).
    """
    closed = datetime.combine(last_day + timedelta(days=1), datetime.min.time(), LOCAL)
    scorecard = db.session.scalar(select(Scorecard).where(Scorecard.created_at < closed)
                                  .order_by(Scorecard.version.desc()).limit(1))
    if scorecard is None:
        scorecard = db.session.scalar(select(Scorecard).order_by(Scorecard.version).limit(1))
    if scorecard is None:
        raise NotFound(_l("No scorecard is defined."))
    return scorecard


def set_scorecard(data: dict[str, Any], actor: str | None) -> Scorecard:
    """Add a scorecard version: it scores the month under way and the ones after (closed months keep theirs)."""
    components = data["components"]
    errors: dict[str, list[str]] = {}
    for name, spec in components.items():
        if name not in COMPONENTS:
            errors[name] = [f"Unknown component; one of: {', '.join(COMPONENTS)}."]
        elif spec["best"] == spec["worst"]:
            errors[name] = ["best and worst must differ."]
    if not errors and sum(spec["weight"] for spec in components.values()) <= 0:
        errors["_weights"] = ["At least one weight must be above 0."]
    if errors:
        raise Invalid(errors={"json": {"components": errors}})
    scorecard = Scorecard(components=components, list_size=data["list_size"], created_by=actor)
    db.session.add(scorecard)
    db.session.flush()
    audit.record("assessment.scorecard", "scorecard", scorecard.version, current_app.config["GRIDS_CITY_CODE"],
                 {"components": components, "list_size": data["list_size"]})
    db.session.commit()
    return scorecard


def scorer(components: dict[str, Any]) -> Callable[..., tuple[float | None, dict[str, Any] | None]]:
    """The scoring function of a scorecard's components: component values → (score 0-100, each part).

    A component scores ``(value - worst) / (best - worst)`` clamped to 0..1; components
    without a value are left out and the remaining weights rescaled to 100.  The specs are
    read once (a city ranking scores thousands of regions), and ``parts=False`` skips the
    parts where only the score is wanted (the month before, for the previous rank).
    """
    specs = [(name, float(spec["weight"]), spec["worst"], spec["best"] - spec["worst"])
             for name, spec in components.items()]

    def score_of(values: dict[str, float | None], parts: bool = True) -> tuple[float | None, dict[str, Any] | None]:
        detail: dict[str, Any] | None = {} if parts else None
        weighted = total = 0.0
        for name, weight, worst, span in specs:
            value = values.get(name)
            if value is None:
                if parts:
                    detail[name] = {"value": None, "score": None, "weight": weight}
                continue
            share = min(1.0, max(0.0, (value - worst) / span))
            if parts:
                detail[name] = {"value": round(value, 4), "score": round(share, 4), "weight": weight}
            weighted += weight * share
            total += weight
        return (round(100 * weighted / total, 2) if total else None), detail

    return score_of

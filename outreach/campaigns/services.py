"""Campaign rules: the village comes from the point and must lie in the caller's scope."""
from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from core.clock import LOCAL
from core.errors import Invalid
from core.extensions import db
from core.geometry import to_db
from core.scope import in_scope
from grids import services as territory
from grids.accounts import audit
from grids.hierarchy import code_prefix
from outreach.campaigns import queries
from outreach.campaigns.models import CAMPAIGN_KINDS, Campaign
from outreach.cases.queries import village_of_point

MAX_FUTURE = timedelta(days=1)


def create_campaign(data: dict[str, Any], raw_location: Any, actor: str | None) -> Campaign:
    """Record a campaign event in the village containing its location."""
    point = data["location"]
    village_code = village_of_point(point.x, point.y)
    if village_code is None or not in_scope(db.session, village_code):
        raise Invalid(errors={"json": {"location": ["The point is outside every village of your scope."]}})
    if data["held_at"] > datetime.now(LOCAL) + MAX_FUTURE:
        raise Invalid(errors={"json": {"held_at": ["Too far in the future."]}})
    raw_lon, raw_lat, crs = _raw(raw_location)
    campaign = Campaign(county_code=village_code[:6], village_code=village_code, kind=data["kind"],
                        title=data["title"], held_at=data["held_at"], location=to_db(point), raw_lon=raw_lon,
                        raw_lat=raw_lat, crs=crs, audience=data["audience"], materials=data["materials"],
                        notes=data.get("notes"), created_by=actor)
    db.session.add(campaign)
    db.session.flush()
    audit.record("campaign.create", "campaign", campaign.id, village_code,
                 {"kind": campaign.kind, "audience": campaign.audience})
    db.session.commit()
    return campaign


def _raw(value: Any) -> tuple[float | None, float | None, str]:
    """The coordinates as sent (GeoJSON point or {lon, lat}) and their crs."""
    if not isinstance(value, dict):
        return None, None, "wgs84"
    if "coordinates" in value:
        lon, lat = value["coordinates"][:2]
    else:
        lon, lat = value.get("lon"), value.get("lat")
    return float(lon), float(lat), value.get("crs", "wgs84")


def local_bounds(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Local inclusive dates as a half-open interval of instants."""
    return (datetime.combine(start, datetime.min.time(), LOCAL) if start else None,
            datetime.combine(end + timedelta(days=1), datetime.min.time(), LOCAL) if end else None)


def summary(region_code: str, start: date | None, end: date | None) -> dict[str, Any]:
    """Campaigns, audience and materials by kind (every kind listed) in a region and period."""
    region = territory.get_region(region_code)
    counts = queries.by_kind(code_prefix(region.code), *local_bounds(start, end))
    rows = [{"kind": kind, "campaigns": counts.get(kind, (0, 0, 0, 0))[0],
             "audience": counts.get(kind, (0, 0, 0, 0))[1], "materials": counts.get(kind, (0, 0, 0, 0))[2],
             "villages": counts.get(kind, (0, 0, 0, 0))[3]} for kind in CAMPAIGN_KINDS]
    return {"region": region.code, "from": start, "to": end, "campaigns": sum(r["campaigns"] for r in rows),
            "audience": sum(r["audience"] for r in rows), "materials": sum(r["materials"] for r in rows),
            "by_kind": rows}

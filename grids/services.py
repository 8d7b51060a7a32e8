"""Rules of the territory: lookups that may fail, locating points, importing cells.

Services are the only place that commits.
"""
from __future__ import annotations

from typing import Any

import shapely
from flask import current_app
from flask_babel import lazy_gettext as _l
from marshmallow import ValidationError
from shapely.geometry import Point, mapping

from core.coords import to_wgs84
from core.errors import NotFound
from core.extensions import db
from core.fields import has_control_characters
from core.geometry import as_multipolygon, parse_geojson_geometry
from core.messages import translate
from core.scope import in_scope
from grids import queries
from grids.accounts import audit
from grids.assignments.queries import current_members_of_cells
from grids.hierarchy import code_prefix, parent_cell_code
from grids.models import Grid, Region
from grids.schemas import GRID_CODE


def get_region(code: str, with_boundary: bool = False) -> Region:
    """A region by code, or 404."""
    region = queries.region_by_code(code, with_boundary=with_boundary)
    if region is None:
        raise NotFound(_l("Region %(code)s was not found.", code=code))
    return region


def get_grid(code: str, with_boundary: bool = False) -> Grid:
    """A grid cell by code, or 404."""
    grid = queries.grid_by_code(code, with_boundary) if GRID_CODE.match(code) else None
    if grid is None:
        raise NotFound(_l("Grid cell %(code)s was not found.", code=code))
    return grid


def with_members(grids: list[Grid]) -> list[Grid]:
    """Attach the current members (chief first) to each cell, in one query for them all."""
    members: dict[str, list[dict]] = {grid.code: [] for grid in grids}
    for grid_code, member_id, name, role in current_members_of_cells(list(members)):
        members[grid_code].append({"id": member_id, "name": name, "role": role})
    for grid in grids:
        grid.members = members[grid.code]
    return grids


def managed_townships() -> dict[str, list[str]]:
    """Zone code → the townships it manages (see ``grids.territory_data.ZONES``)."""
    return queries.managed_townships()


def region_names(level: str) -> dict[str, str]:
    """Code → name of the regions of a level."""
    return queries.region_names(level)


def region_code_prefix(code: str | None) -> str | None:
    """The code prefix of an existing region (404 when it does not exist)."""
    if not code:
        return None
    region = get_region(code)
    return code_prefix(region.code)


def locate(lon: float, lat: float, crs: str = "wgs84") -> dict[str, Any]:
    """The village and the cells of each tier that contain a point given in ``crs``."""
    wgs_lon, wgs_lat = to_wgs84(lon, lat, crs)
    cells = queries.cells_containing(wgs_lon, wgs_lat)
    if not cells:
        raise NotFound(_l("The point (%(lon).6f, %(lat).6f) is outside every grid cell.",
                          lon=wgs_lon, lat=wgs_lat))
    village = queries.region_by_code(cells[0].village_code)
    return {"village": village, "grids": cells, "point": mapping(Point(wgs_lon, wgs_lat))}


# --- grid import ---

def _expected_tier(code_match) -> int:
    group, micro = code_match.group(2), code_match.group(3)
    if group == "00":
        return 1 if micro == "00" else 0
    return 2 if micro == "00" else 3


def _check_feature(index: int, feature: Any) -> tuple[dict | None, dict | None]:
    """Structural checks of one feature: (staging row, None) or (None, rejection)."""
    def reject(reason: str, message: str, code: str | None = None):
        return None, {"index": index, "code": code, "reason": reason, "message": message}

    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return reject("malformed_feature", "not a GeoJSON Feature")
    properties = feature.get("properties") or {}
    code, tier, name = properties.get("code"), properties.get("tier"), properties.get("name")
    if not isinstance(code, str):
        return reject("bad_code", "property 'code' is missing or not a string")
    match = GRID_CODE.match(code)
    if not match:
        return reject("bad_code", "code must look like 610902001001-03-07 (village-NN-NN)", code)
    if not isinstance(tier, int) or isinstance(tier, bool) or tier not in (1, 2, 3):
        return reject("bad_tier", "property 'tier' must be 1, 2 or 3", code)
    if _expected_tier(match) != tier:
        return reject("bad_code", f"code {code} is not a tier-{tier} code", code)
    if not in_scope(db.session, match.group(1)):
        return reject("out_of_scope", "the cell's village is outside your scope", code)
    if not isinstance(name, str) or not name.strip() or len(name) > 100 or has_control_characters(name):
        return reject("bad_name", "property 'name' must be a non-empty string of at most 100 characters", code)
    try:
        geometry = parse_geojson_geometry(feature.get("geometry"), ("Polygon", "MultiPolygon"),
                                          require_valid=False)
    except ValidationError as error:
        return reject("invalid_geometry", " ".join(error.messages), code)
    if not geometry.is_valid:
        return reject("invalid_geometry", shapely.is_valid_reason(geometry), code)
    row = {
        "idx": index, "code": code, "tier": tier, "name": name.strip(),
        "parent_code": parent_cell_code(code, tier), "village_code": match.group(1),
        "wkb": shapely.to_wkb(as_multipolygon(geometry), hex=True),
    }
    return row, None


def _common_region(villages: list[str]) -> str:
    """The smallest region (village, township, county or the city) holding every one of ``villages``."""
    for length in (12, 9, 6):
        prefixes = {village[:length] for village in villages}
        if len(prefixes) == 1:
            return prefixes.pop().ljust(12, "0")
    return current_app.config["GRIDS_CITY_CODE"]


def import_grids(collection: dict[str, Any], dry_run: bool = False, partial: bool = False) -> dict[str, Any]:
    """Validate a FeatureCollection of cells and write it when every feature passes.

    With ``partial`` the accepted features are written even when others are
    rejected; with ``dry_run`` nothing is written either way.
    """
    rows, rejected, seen = [], [], {}
    for index, feature in enumerate(collection["features"]):
        row, rejection = _check_feature(index, feature)
        if rejection is None and row["code"] in seen:
            rejection = {"index": index, "code": row["code"], "reason": "duplicate_code",
                         "message": f"code already used by feature {seen[row['code']]}"}
        if rejection:
            rejected.append(rejection)
            continue
        seen[row["code"]] = index
        rows.append(row)

    queries.stage_import(rows)
    for tier in (1, 2, 3):
        queries.check_import_tier(tier)
        if tier < 3:
            queries.check_stored_children(tier)
    for row in queries.import_rejections():
        rejected.append({"index": row["idx"], "code": row["code"], "reason": row["reason"],
                         "message": row["detail"]})
    rejected.sort(key=lambda r: r["index"])
    for rejection in rejected:
        rejection["message"] = translate(rejection["message"])
    accepted = len(collection["features"]) - len(rejected)

    written = 0
    if not dry_run and (partial or not rejected) and accepted:
        written = queries.write_import()
        queries.refresh_rollups()
        codes = sorted({row["code"] for row in rows} - {r["code"] for r in rejected})
        region = _common_region([code[:12] for code in codes])
        audit.record("grid.import", "grid_import", region, region,
                     {"written": written, "rejected": len(rejected), "partial": partial, "codes": codes[:200],
                      "more_codes": max(0, len(codes) - 200)})
        db.session.commit()
    else:
        db.session.rollback()
    return {"accepted": accepted, "rejected": rejected, "written": written, "dry_run": dry_run}

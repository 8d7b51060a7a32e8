"""Household rules: placement in the tier-3 cell containing the point, CSV import."""
from __future__ import annotations

import csv
import io
import math
import re
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func

from core.coords import CRS_CHOICES, to_wgs84_mixed
from core.errors import Conflict, Invalid, NotFound
from core.extensions import db
from core.fields import has_control_characters
from core.geometry import inside_city, to_db
from core.messages import translate_errors
from core.scope import in_scope
from grids.accounts import audit
from grids.households import queries, signals
from grids.households.models import HOUSEHOLD_TAGS, Household

REQUIRED_COLUMNS = ("lon", "lat")
KNOWN_COLUMNS = ("lon", "lat", "crs", "address", "residents", "tags", "external_id")
MAX_ROWS = 200_000
TAG_SEPARATORS = re.compile(r"[;|,\s]+")


def get_household(household_id: int) -> Household:
    """A household in scope, or 404."""
    household = queries.household_by_id(household_id)
    if household is None:
        raise NotFound(_l("Household %(id)s was not found.", id=household_id))
    return household


def update_household(household_id: int, changes: dict[str, Any]) -> Household:
    """Change a household's address, residents or tags."""
    household = get_household(household_id)
    if household.removed_at is not None:
        raise Conflict(_l("The household has been removed."), rule="removed")
    was_vulnerable = bool(household.tags)
    for name, value in changes.items():
        setattr(household, name, sorted(set(value)) if name == "tags" else value)
    if bool(household.tags) != was_vulnerable:  # the vulnerable rollups follow the tags
        queries.increment_household_rollups([household.grid_code], [0], [1 if household.tags else -1])
        signals.vulnerability_changed.send(household, was_vulnerable=was_vulnerable)
    audit.record("household.update", "household", household.id, household.village_code,
                 {"fields": sorted(changes)})
    db.session.commit()
    return household


def remove_household(household_id: int) -> Household:
    """Mark a household as gone (it moved away, the house is empty); visits keep referring to it."""
    household = get_household(household_id)
    if household.removed_at is not None:
        raise Conflict(_l("The household has been removed."), rule="removed")
    household.removed_at = func.now()
    queries.increment_household_rollups([household.grid_code], [-1], [-1 if household.tags else 0])
    signals.household_removed.send(household)
    audit.record("household.remove", "household", household.id, household.village_code)
    db.session.commit()
    db.session.refresh(household)
    return household


def place(lon: float, lat: float) -> tuple[str, str]:
    """The tier-3 cell and village for a WGS84 point in the caller's scope; 422 otherwise."""
    placement = queries.cell_covering(lon, lat)
    if placement is None:
        raise Invalid(errors={"json": {"location": ["The point is outside every grid cell."]}})
    if not in_scope(db.session, placement[1]):
        raise Invalid(errors={"json": {"location": ["The point is outside your scope."]}})
    return placement


def create_household(data: dict[str, Any]) -> Household:
    """Create a household in the tier-3 cell containing its location."""
    point = data["location"]
    grid_code, village_code = place(point.x, point.y)
    household = Household(county_code=village_code[:6], grid_code=grid_code, village_code=village_code,
                          location=to_db(point), address=data.get("address"), residents=data["residents"],
                          tags=sorted(set(data["tags"])), external_id=data.get("external_id"))
    db.session.add(household)
    db.session.flush()
    queries.increment_household_rollups([grid_code], [1], [1 if household.tags else 0])
    audit.record("household.create", "household", household.id, village_code)
    db.session.commit()
    return household


def _parse_row(row: dict[str, str | None]) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for name in ("lon", "lat"):
        raw = (row.get(name) or "").strip()
        try:
            values[name] = float(raw)
            if not math.isfinite(values[name]):
                raise ValueError
        except ValueError:
            errors[name] = ["Not a number." if raw else "Missing."]
    if not errors:
        if not (-180 <= values["lon"] <= 180):
            errors["lon"] = ["Out of range (-180..180)."]
        if not (-90 <= values["lat"] <= 90):
            errors["lat"] = ["Out of range (-90..90)."]
    crs = (row.get("crs") or "wgs84").strip().lower() or "wgs84"
    if crs not in CRS_CHOICES:
        errors["crs"] = [f"Must be one of: {', '.join(CRS_CHOICES)}."]
    values["crs"] = crs
    residents_raw = (row.get("residents") or "1").strip() or "1"
    try:
        values["residents"] = int(residents_raw)
        if not 0 <= values["residents"] <= 100:
            errors["residents"] = ["Must be between 0 and 100."]
    except ValueError:
        errors["residents"] = ["Not an integer."]
    tags = [t for t in TAG_SEPARATORS.split((row.get("tags") or "").strip()) if t]
    unknown = sorted(set(tags) - set(HOUSEHOLD_TAGS))
    if unknown:
        errors["tags"] = [f"Unknown tags: {', '.join(unknown)}; allowed: {', '.join(HOUSEHOLD_TAGS)}."]
    values["tags"] = sorted(set(tags))
    values["address"] = _csv_text(row, "address", 200, errors)
    values["external_id"] = _csv_text(row, "external_id", 64, errors)
    return (None if errors else values), errors


def _csv_text(row: dict[str, str], name: str, limit: int, errors: dict[str, list[str]]) -> str | None:
    """A free-text column of an import row, stripped (None when empty); its error goes into ``errors``."""
    value = (row.get(name) or "").strip()
    if len(value) > limit:
        errors[name] = [f"At most {limit} characters."]
    elif has_control_characters(value):
        errors[name] = ["Must not contain control characters."]
    return value or None


def _rows(reader: csv.DictReader):
    """The reader's rows; a row the csv module cannot read is a 422 naming its line."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise Invalid(_l("The CSV file is malformed."),
                          errors={"file": [f"Line {reader.line_num}: {error}."]}) from error


def import_csv(content: bytes, partial: bool = False, dry_run: bool = False) -> dict[str, Any]:
    """Import households from CSV (lon, lat, crs, address, residents, tags), placed set-wise.

    Nothing is written unless every row passes or ``partial`` is given.
    """
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise Invalid(_l("The file is not UTF-8 text."), errors={"file": ["Not UTF-8."]}) from error
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise Invalid(_l("The CSV header lacks required columns."),
                      errors={"file": [f"Missing columns: {', '.join(missing)}; expected {', '.join(KNOWN_COLUMNS)}."]})
    reader.fieldnames = header

    rejected: list[dict[str, Any]] = []
    good: list[tuple[int, dict[str, Any]]] = []
    rows = 0
    for row in _rows(reader):
        rows += 1
        if rows > MAX_ROWS:
            raise Invalid(_l("Too many rows in one import."), errors={"file": [f"At most {MAX_ROWS} rows."]})
        if None in row:  # more cells than header columns
            rejected.append({"line": reader.line_num, "reason": "malformed_row",
                             "errors": {"row": ["More values than header columns."]}})
            continue
        values, errors = _parse_row(row)
        if errors:
            rejected.append({"line": reader.line_num, "reason": "invalid_value", "errors": errors})
        else:
            good.append((reader.line_num, values))

    staged = []
    if good:
        lon, lat = to_wgs84_mixed([v["lon"] for _, v in good], [v["lat"] for _, v in good],
                                  [v["crs"] for _, v in good])
        for (line, values), x, y in zip(good, lon.tolist(), lat.tolist(), strict=True):
            if not inside_city(x, y):
                rejected.append({"line": line, "reason": "outside_city",
                                 "errors": {"location": ["The point is outside the city."]}})
                continue
            tags = "{" + ",".join(values["tags"]) + "}"
            staged.append((line, x, y, values["address"], values["residents"], tags, values["external_id"]))

    accepted_lines: list[int] = []
    cell_counts: dict[str, int] = {}
    vulnerable_counts: dict[str, int] = {}
    external_ids = {line: values["external_id"] for line, values in good}
    seen_keys: dict[tuple[str, str], int] = {}
    accepted_cells: list[str] = []
    if staged:
        queries.stage_households(staged)
        queries.place_staged_households()
        for line, grid_code, village_code in queries.staged_placements():
            if grid_code is None:
                rejected.append({"line": line, "reason": "outside_grid",
                                 "errors": {"location": ["The point is outside every grid cell."]}})
            elif not in_scope(db.session, village_code):
                rejected.append({"line": line, "reason": "out_of_scope",
                                 "errors": {"location": ["The point is outside your scope."]}})
            elif external_ids.get(line) and (village_code, external_ids[line]) in seen_keys:
                rejected.append({"line": line, "reason": "duplicate_external_id", "errors": {"external_id": [
                    f"Also on line {seen_keys[(village_code, external_ids[line])]} for the same village."]}})
            else:
                if external_ids.get(line):
                    seen_keys[(village_code, external_ids[line])] = line
                accepted_lines.append(line)
                accepted_cells.append(grid_code)
    rejected.sort(key=lambda r: r["line"])

    written = 0
    if accepted_lines and not dry_run and (partial or not rejected):
        changed = queries.insert_staged_households(accepted_lines)
        written = len(changed)
        updated = []
        for inserted, county, household_id, grid_code, vulnerable, was_vulnerable in changed:
            if inserted:
                cell_counts[grid_code] = cell_counts.get(grid_code, 0) + 1
            elif vulnerable != was_vulnerable:
                updated.append((county, household_id, was_vulnerable))
            if vulnerable != was_vulnerable or (inserted and vulnerable):
                vulnerable_counts[grid_code] = vulnerable_counts.get(grid_code, 0) + (1 if vulnerable else -1)
        for county, household_id, was_vulnerable in updated:  # coverage rollups follow the tags
            household = db.session.get(Household, (county, household_id))
            signals.vulnerability_changed.send(household, was_vulnerable=was_vulnerable)
        codes = sorted(set(cell_counts) | set(vulnerable_counts))
        queries.increment_household_rollups(codes, [cell_counts.get(c, 0) for c in codes],
                                            [vulnerable_counts.get(c, 0) for c in codes])
        prefix = _common_prefix([c[:12] for c in accepted_cells])
        audit.record("household.import", "household", f"csv:{written}", prefix.ljust(12, "0")[:12],
                     {"rows": rows, "written": written, "rejected": len(rejected)})
        db.session.commit()
    else:
        db.session.rollback()
    for rejection in rejected:
        rejection["errors"] = translate_errors(rejection["errors"])
    return {"rows": rows, "accepted": len(accepted_lines), "rejected": rejected, "written": written,
            "dry_run": dry_run}


def _common_prefix(codes: list[str]) -> str:
    """The longest common prefix of region codes (the smallest region holding them all)."""
    if not codes:
        return ""
    first, last = min(codes), max(codes)
    length = 0
    while length < len(first) and first[length] == last[length]:
        length += 1
    for size in (12, 9, 6, 4, 2, 0):
        if length >= size:
            return first[:size]
    return ""


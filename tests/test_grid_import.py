"""POST /grids/import and ``flask grids import``: per-feature checks, all-or-nothing, partial, dry run."""
from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
import shapely
from shapely import affinity
from shapely.geometry import box, mapping
from sqlalchemy import text

from core.extensions import db
from grids.accounts import services as accounts

IMPORT_URL = "/api/v1/grids/import"


@dataclass
class Split:
    """A tier-2 cell, one of its tier-3 children and that child cut in two halves."""

    parent_code: str
    parent_geometry: object
    child_code: str
    child_geometry: object
    new_code: str
    half_a: object
    half_b: object
    village_code: str


def geometry_of(code: str):
    """The stored boundary of a grid cell as a shapely geometry."""
    value = db.session.execute(text("select ST_AsBinary(boundary) from grids where code = :c"),
                               {"c": code}).scalar()
    return shapely.from_wkb(bytes(value))  # exact (GeoJSON text would round the coordinates)


def stored_area(code: str) -> float | None:
    """The area (square degrees) of a stored grid cell, None if it does not exist."""
    return db.session.execute(text("select ST_Area(boundary) from grids where code = :c"),
                              {"c": code}).scalar()


def grid_count() -> int:
    """How many grid cells are stored."""
    return db.session.execute(text("select count(*) from grids")).scalar()


@pytest.fixture
def split() -> Split:
    """A tier-2 cell P with at least two children; child C split left/right of its centroid."""
    row = db.session.execute(text("""
        select p.code as parent, min(c.code) as child
        from grids p join grids c on c.parent_code = p.code
        where p.tier = 2 group by p.code having count(*) >= 2 order by p.code limit 1
    """)).one()
    child = geometry_of(row.child)
    min_x, min_y, max_x, max_y = child.bounds
    cx = child.centroid.x
    half_a = child.intersection(box(min_x - 1, min_y - 1, cx, max_y + 1))
    half_b = child.intersection(box(cx, min_y - 1, max_x + 1, max_y + 1))
    assert half_a.geom_type in ("Polygon", "MultiPolygon") and half_b.geom_type in ("Polygon", "MultiPolygon")
    new_code = row.parent[:15] + "-99"
    assert stored_area(new_code) is None
    return Split(row.parent, geometry_of(row.parent), row.child, child, new_code, half_a, half_b,
                 row.parent[:12])


def feature(code, tier, geometry, name="测试网格") -> dict:
    """A GeoJSON Feature of a grid cell (geometry as shapely or as a GeoJSON dict)."""
    if not isinstance(geometry, dict) and geometry is not None:
        geometry = mapping(geometry)
    return {"type": "Feature", "properties": {"code": code, "tier": tier, "name": name}, "geometry": geometry}


def collection(*features) -> dict:
    """A GeoJSON FeatureCollection."""
    return {"type": "FeatureCollection", "features": list(features)}


def post_import(client, body, **params):
    """POST a collection to /grids/import with query options; return the JSON result (asserting 200)."""
    query = "&".join(f"{k}={str(v).lower()}" for k, v in params.items())
    response = client.post(f"{IMPORT_URL}?{query}", json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def reasons(result) -> list[tuple[int, str]]:
    """(index, reason) of every rejection."""
    return [(r["index"], r["reason"]) for r in result["rejected"]]


def split_features(s: Split) -> list[dict]:
    """The two halves of the split child: A keeps the child's code, B gets a new code."""
    return [feature(s.child_code, 3, s.half_a, "左半"), feature(s.new_code, 3, s.half_b, "右半")]


def bow_tie():
    """A self-intersecting polygon (GeoJSON dict) inside Ankang."""
    return {"type": "Polygon", "coordinates": [[[109.0, 32.6], [109.01, 32.61], [109.01, 32.6],
                                                [109.0, 32.61], [109.0, 32.6]]]}


# --- accepted ---

def test_split_is_accepted_on_dry_run_and_nothing_written(client, split):
    before = grid_count()
    result = post_import(client, collection(*split_features(split)), dry_run=True)
    assert result == {"accepted": 2, "rejected": [], "written": 0, "dry_run": True}
    assert client.get(f"/api/v1/grids/{split.new_code}").status_code == 404
    assert stored_area(split.child_code) == pytest.approx(split.child_geometry.area, rel=1e-9)
    assert grid_count() == before


def test_split_is_written(client, split):
    before = grid_count()
    result = post_import(client, collection(*split_features(split)))
    assert result == {"accepted": 2, "rejected": [], "written": 2, "dry_run": False}
    assert grid_count() == before + 1
    response = client.get(f"/api/v1/grids/{split.new_code}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["tier"] == 3 and body["parent_code"] == split.parent_code
    assert body["village_code"] == split.village_code and body["name"] == "右半"
    assert client.get(f"/api/v1/grids/{split.child_code}").get_json()["name"] == "左半"
    assert stored_area(split.child_code) == pytest.approx(split.half_a.area, rel=1e-6)
    assert stored_area(split.new_code) == pytest.approx(split.half_b.area, rel=1e-6)


def test_written_cells_update_region_rollups(client, split):
    village_before = client.get(f"/api/v1/regions/{split.village_code}").get_json()
    post_import(client, collection(*split_features(split)))
    village_after = client.get(f"/api/v1/regions/{split.village_code}").get_json()
    assert village_after["grids"] == village_before["grids"] + 1
    assert village_after["households"] == village_before["households"]


def test_replacing_a_cell_with_the_same_geometry_is_accepted(client, split):
    result = post_import(client, collection(feature(split.child_code, 3, split.child_geometry)), dry_run=True)
    assert result["accepted"] == 1 and result["rejected"] == []


def test_new_tier2_with_children_in_the_same_import(client, split):
    """A tier-2 cell replaced and a new tier-3 child staged with it nest against the staged parent."""
    features = [feature(split.parent_code, 2, split.parent_geometry), *split_features(split)]
    result = post_import(client, collection(*features), dry_run=True)
    assert result["accepted"] == 3 and result["rejected"] == []


def test_tier1_equal_to_its_village_is_accepted(client, split):
    village = db.session.execute(text("select ST_AsGeoJSON(boundary) from regions where code = :c"),
                                 {"c": split.village_code}).scalar()
    result = post_import(client, collection(feature(split.village_code + "-00-00", 1, json.loads(village))),
                         dry_run=True)
    assert result["accepted"] == 1 and result["rejected"] == []


def test_empty_collection(client):
    result = post_import(client, collection())
    assert result == {"accepted": 0, "rejected": [], "written": 0, "dry_run": False}


# --- rejected, one reason at a time ---

def test_self_intersecting_polygon_is_invalid_geometry(client, split):
    result = post_import(client, collection(feature(split.new_code, 3, bow_tie())))
    [rejection] = result["rejected"]
    assert rejection["index"] == 0 and rejection["code"] == split.new_code
    assert rejection["reason"] == "invalid_geometry"
    assert "self-intersection" in rejection["message"].lower()
    assert result["accepted"] == 0 and result["written"] == 0


@pytest.mark.parametrize("geometry", [
    {"type": "Point", "coordinates": [109.0, 32.6]},
    {"type": "Polygon", "coordinates": [[[200.0, 32.6], [200.1, 32.6], [200.1, 32.7], [200.0, 32.6]]]},
    {"type": "Polygon", "coordinates": "nope"},
    {"type": "Polygon", "coordinates": []},
    None,
], ids=["point", "out_of_range", "bad_coordinates", "empty", "missing"])
def test_unusable_geometry_is_invalid_geometry(client, split, geometry):
    result = post_import(client, collection(feature(split.new_code, 3, geometry)))
    assert reasons(result) == [(0, "invalid_geometry")]


@pytest.mark.parametrize("code, tier", [
    ("abc", 3),
    ("610902001003-1-1", 3),
    ("610902001003_01_01", 3),
    (None, 3),
    (610902001003, 3),
], ids=["letters", "short_parts", "underscores", "missing", "number"])
def test_malformed_code_is_bad_code(client, split, code, tier):
    result = post_import(client, collection(feature(code, tier, split.half_b)))
    assert reasons(result) == [(0, "bad_code")]


@pytest.mark.parametrize("suffix, tier", [("-03-07", 2), ("-03-00", 3), ("-00-00", 2), ("-00-05", 3),
                                          ("-03-07", 1)])
def test_code_not_matching_tier_is_bad_code(client, split, suffix, tier):
    code = split.village_code + suffix
    result = post_import(client, collection(feature(code, tier, split.half_b)))
    [rejection] = result["rejected"]
    assert rejection["reason"] == "bad_code" and rejection["code"] == code


@pytest.mark.parametrize("tier", [4, 0, "3", True, None, 3.0])
def test_bad_tier(client, split, tier):
    result = post_import(client, collection(feature(split.new_code, tier, split.half_b)))
    assert reasons(result) == [(0, "bad_tier")]


@pytest.mark.parametrize("name", ["", "   ", None, 5, "长" * 101])
def test_bad_name(client, split, name):
    result = post_import(client, collection(feature(split.new_code, 3, split.half_b, name)))
    assert reasons(result) == [(0, "bad_name")]


@pytest.mark.parametrize("item", [{"type": "Polygon"}, {"properties": {}}, {"type": "feature"}])
def test_not_a_feature_is_malformed_feature(client, item):
    result = post_import(client, collection(item))
    assert reasons(result) == [(0, "malformed_feature")]


@pytest.mark.parametrize("item", [[], "feature", 3])
def test_feature_that_is_not_an_object_is_422(client, item):
    response = client.post(IMPORT_URL, json=collection(item))
    assert response.status_code == 422
    assert "0" in response.get_json()["errors"]["json"]["features"]


def test_tier2_without_existing_tier1_is_unknown_parent(client, split):
    code = "610902999999-01-00"
    result = post_import(client, collection(feature(code, 2, split.half_b)))
    [rejection] = result["rejected"]
    assert (rejection["reason"], rejection["code"]) == ("unknown_parent", code)
    assert "610902999999-00-00" in rejection["message"]


def test_tier3_without_existing_tier2_is_unknown_parent(client, split):
    result = post_import(client, collection(feature(split.village_code + "-98-01", 3, split.half_b)))
    assert reasons(result) == [(0, "unknown_parent")]


def test_tier1_of_unknown_village_is_unknown_parent(client, split):
    result = post_import(client, collection(feature("610902999999-00-00", 1, split.half_b)))
    [rejection] = result["rejected"]
    assert rejection["reason"] == "unknown_parent"
    assert "610902999999" in rejection["message"]


def test_tier3_under_a_rejected_staged_parent_is_unknown_parent(client, split):
    """A new tier-2 cell that overlaps its siblings is rejected, and so is the child staged under it."""
    new_parent = split.village_code + "-98-00"
    features = [feature(new_parent, 2, split.parent_geometry),
                feature(split.village_code + "-98-01", 3, split.child_geometry)]
    result = post_import(client, collection(*features))
    assert reasons(result) == [(0, "overlaps_sibling"), (1, "unknown_parent")]
    assert result["accepted"] == 0


def test_tier3_under_a_replaced_parent_rejected_as_not_nested_is_unknown_parent(client, split):
    moved_parent = affinity.translate(split.parent_geometry, xoff=0.5)
    features = [feature(split.parent_code, 2, moved_parent),
                feature(split.child_code, 3, split.child_geometry)]
    result = post_import(client, collection(*features))
    assert reasons(result) == [(0, "not_nested"), (1, "unknown_parent")]


def test_tier3_outside_its_parent_is_not_nested(client, split):
    moved = affinity.translate(split.child_geometry, xoff=0.3, yoff=0.3)
    result = post_import(client, collection(feature(split.child_code, 3, moved)))
    [rejection] = result["rejected"]
    assert rejection["reason"] == "not_nested"
    assert split.parent_code in rejection["message"]


def test_tier3_partly_outside_its_parent_is_not_nested(client, split):
    grown = split.child_geometry.buffer(0.01)
    result = post_import(client, collection(feature(split.child_code, 3, grown)))
    assert reasons(result) == [(0, "not_nested")]


def test_tier1_not_equal_to_its_village_is_not_nested(client, split):
    result = post_import(client, collection(feature(split.village_code + "-00-00", 1, split.parent_geometry)))
    [rejection] = result["rejected"]
    assert rejection["reason"] == "not_nested"
    assert split.village_code in rejection["message"]


def test_new_code_overlapping_an_existing_sibling(client, split):
    result = post_import(client, collection(feature(split.new_code, 3, split.child_geometry)))
    [rejection] = result["rejected"]
    assert (rejection["reason"], rejection["code"]) == ("overlaps_sibling", split.new_code)
    assert split.child_code in rejection["message"]


def test_duplicate_code(client, split):
    features = [feature(split.child_code, 3, split.child_geometry),
                feature(split.child_code, 3, split.child_geometry)]
    result = post_import(client, collection(*features))
    [rejection] = result["rejected"]
    assert (rejection["index"], rejection["reason"]) == (1, "duplicate_code")
    assert "0" in rejection["message"]
    assert result["accepted"] == 1 and result["written"] == 0


def test_staged_siblings_overlapping_each_other_are_both_rejected(client, split):
    features = [feature(split.parent_code[:15] + "-98", 3, split.half_b),
                feature(split.new_code, 3, split.half_b)]
    result = post_import(client, collection(*features), dry_run=True)
    assert reasons(result) == [(0, "overlaps_sibling"), (1, "overlaps_sibling")]
    assert result["accepted"] == 0


def test_rejections_are_sorted_by_index_and_counted(client, split):
    features = [feature(split.village_code + "-98-01", 3, split.half_b),  # unknown_parent (spatial stage)
                feature("abc", 3, split.half_a),                          # bad_code (structural)
                feature(split.child_code, 3, split.child_geometry),       # accepted
                feature(split.child_code, 3, split.half_a)]               # duplicate_code
    result = post_import(client, collection(*features), dry_run=True)
    assert reasons(result) == [(0, "unknown_parent"), (1, "bad_code"), (3, "duplicate_code")]
    assert [r["code"] for r in result["rejected"]] == [split.village_code + "-98-01", "abc", split.child_code]
    assert result["accepted"] == 1


# --- all-or-nothing, partial, dry run ---

def mixed_features(s: Split) -> list[dict]:
    """Two valid halves followed by one invalid (self-intersecting) feature."""
    return [*split_features(s), feature(s.parent_code[:15] + "-98", 3, bow_tie())]


def test_mixed_import_writes_nothing(client, split):
    before = grid_count()
    result = post_import(client, collection(*mixed_features(split)))
    assert result["accepted"] == 2 and reasons(result) == [(2, "invalid_geometry")]
    assert result["written"] == 0
    assert client.get(f"/api/v1/grids/{split.new_code}").status_code == 404
    assert stored_area(split.child_code) == pytest.approx(split.child_geometry.area, rel=1e-9)
    assert grid_count() == before


def test_partial_writes_only_the_accepted(client, split):
    before = grid_count()
    result = post_import(client, collection(*mixed_features(split)), partial=True)
    assert result["accepted"] == 2 and result["written"] == 2
    assert reasons(result) == [(2, "invalid_geometry")]
    assert client.get(f"/api/v1/grids/{split.new_code}").status_code == 200
    assert client.get(f"/api/v1/grids/{split.parent_code[:15]}-98").status_code == 404
    assert stored_area(split.child_code) == pytest.approx(split.half_a.area, rel=1e-6)
    assert grid_count() == before + 1


def test_partial_dry_run_writes_nothing(client, split):
    result = post_import(client, collection(*mixed_features(split)), partial=True, dry_run=True)
    assert result["accepted"] == 2 and result["written"] == 0 and result["dry_run"] is True
    assert client.get(f"/api/v1/grids/{split.new_code}").status_code == 404


def test_shrinking_a_cell_that_leaves_a_gap_in_its_parent_is_leaves_gap(client, split):
    result = post_import(client, collection(feature(split.child_code, 3, split.half_a)))
    [rejection] = result["rejected"]
    assert (rejection["reason"], rejection["code"]) == ("leaves_gap", split.child_code)
    assert split.parent_code in rejection["message"]
    assert result["accepted"] == 0 and result["written"] == 0
    assert stored_area(split.child_code) == pytest.approx(split.child_geometry.area, rel=1e-9)


def test_shrinking_a_parent_below_its_stored_children_is_children_outside(client, split):
    """P loses child C's area to a new tier-2 cell Q: the village stays covered, but C falls outside P."""
    shrunk = split.parent_geometry.difference(split.child_geometry)
    assert shrunk.geom_type in ("Polygon", "MultiPolygon") and shrunk.is_valid
    new_parent = split.village_code + "-98-00"
    features = [feature(split.parent_code, 2, shrunk), feature(new_parent, 2, split.child_geometry)]
    result = post_import(client, collection(*features))
    [rejection] = result["rejected"]
    assert (rejection["index"], rejection["reason"]) == (0, "children_outside")
    assert split.child_code in rejection["message"]
    assert result["accepted"] == 1 and result["written"] == 0


def test_shrinking_a_parent_alone_leaves_a_gap(client, split):
    shrunk = split.parent_geometry.difference(split.child_geometry)
    result = post_import(client, collection(feature(split.parent_code, 2, shrunk)))
    assert reasons(result) == [(0, "leaves_gap")]


@pytest.mark.parametrize("body, status, location_key", [
    ({"type": "Feature", "features": []}, 422, "type"),
    ({"type": "FeatureCollection", "features": {"a": 1}}, 422, "features"),
    ({"type": "FeatureCollection"}, 422, "features"),
    ({"features": []}, 422, "type"),
    ([1, 2], 422, "_schema"),
], ids=["not_a_collection", "features_not_a_list", "no_features", "no_type", "array"])
def test_invalid_collection_is_rejected_with_field_errors(client, split, body, status, location_key):
    before = grid_count()
    response = client.post(IMPORT_URL, json=body)
    assert response.status_code == status
    error = response.get_json()
    assert error["code"] == status and error["message"]
    assert location_key in error["errors"]["json"]
    assert grid_count() == before


def test_malformed_json_body_is_400(client, split):
    before = grid_count()
    payload = json.dumps(collection(*split_features(split)))[:-5]
    response = client.post(IMPORT_URL, data=payload, content_type="application/json")
    assert response.status_code == 400
    error = response.get_json()
    assert error["code"] == 400 and error["status"] == "Bad Request" and error["message"]
    assert "json" in error["errors"]
    assert grid_count() == before
    assert client.get(f"/api/v1/grids/{split.new_code}").status_code == 404


@pytest.mark.parametrize("query", ["dry_run=maybe", "partial=2x"])
def test_bad_options_are_422(client, split, query):
    response = client.post(f"{IMPORT_URL}?{query}", json=collection(*split_features(split)))
    assert response.status_code == 422
    assert query.split("=")[0] in response.get_json()["errors"]["query"]
    assert client.get(f"/api/v1/grids/{split.new_code}").status_code == 404


# --- who may import ---

def bearer_for(role: str, scope: str) -> dict:
    """An Authorization header for a new user of ``role`` scoped to region ``scope``."""
    user = accounts.create_user(None, {"username": f"test-{role}", "password": "test-password-0",
                                       "role": role, "scope": scope})
    return {"Authorization": "Bearer " + accounts.tokens_for(user, with_refresh=False)["access_token"]}


def test_import_without_a_token_is_401(anonymous_client, split):
    response = anonymous_client.post(IMPORT_URL, json=collection(*split_features(split)))
    assert response.status_code == 401
    assert response.get_json()["code"] == 401
    assert stored_area(split.new_code) is None


def test_import_by_a_role_that_is_not_a_supervisor_is_403(client, split):
    headers = bearer_for("police", "610900000000")
    response = client.post(IMPORT_URL, json=collection(*split_features(split)), headers=headers)
    assert response.status_code == 403
    assert response.get_json()["code"] == 403
    assert client.get(f"/api/v1/grids/{split.new_code}").status_code == 404


def test_cells_outside_the_importers_scope_are_out_of_scope(client, split):
    other_county = "610921000000" if not split.village_code.startswith("610921") else "610925000000"
    headers = bearer_for("county_admin", other_county)
    response = client.post(f"{IMPORT_URL}?dry_run=true", json=collection(*split_features(split)),
                           headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    assert reasons(result) == [(0, "out_of_scope"), (1, "out_of_scope")]
    assert result["accepted"] == 0


def test_cells_inside_the_importers_scope_are_accepted(client, split):
    headers = bearer_for("county_admin", split.village_code[:6] + "000000")
    response = client.post(f"{IMPORT_URL}?dry_run=true", json=collection(*split_features(split)),
                           headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json()["accepted"] == 2 and response.get_json()["rejected"] == []


# --- the command line ---

def run_cli(app, path, *options):
    """Run ``flask grids import PATH OPTIONS`` and return the click result."""
    return app.test_cli_runner().invoke(args=["grids", "import", str(path), *options])


def test_cli_dry_run_accepted(app, client, split, tmp_path):
    path = tmp_path / "cells.geojson"
    path.write_text(json.dumps(collection(*split_features(split)), ensure_ascii=False), encoding="utf-8")
    result = run_cli(app, path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "accepted 2, rejected 0, written 0 (dry run)" in result.output
    assert client.get(f"/api/v1/grids/{split.new_code}").status_code == 404


def test_cli_dry_run_rejected(app, client, split, tmp_path):
    path = tmp_path / "cells.geojson"
    path.write_text(json.dumps(collection(*mixed_features(split))), encoding="utf-8")
    result = run_cli(app, path, "--dry-run")
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "invalid_geometry" in output
    assert "accepted 2, rejected 1, written 0" in output
    assert client.get(f"/api/v1/grids/{split.new_code}").status_code == 404


def test_cli_rejects_a_file_that_is_not_json(app, tmp_path):
    path = tmp_path / "cells.geojson"
    path.write_text("{not json", encoding="utf-8")
    result = run_cli(app, path, "--dry-run")
    assert result.exit_code != 0
    assert "not JSON" in result.output


def test_cli_rejects_a_non_collection(app, tmp_path):
    path = tmp_path / "cells.geojson"
    path.write_text(json.dumps({"type": "Feature"}), encoding="utf-8")
    result = run_cli(app, path, "--dry-run")
    assert result.exit_code != 0
    assert "not a GeoJSON FeatureCollection" in result.output


def _exported_cells(client, region: str) -> dict:
    """The server's own GeoJSON export of every cell under a region (all pages)."""
    response = client.get(f"/api/v1/grids?region={region}&f=geojson&page_size=1000")
    assert response.status_code == 200
    exported = json.loads(response.get_data(as_text=True))
    assert len(exported["features"]) == json.loads(response.headers["X-Pagination"])["total"]
    return exported


@pytest.mark.parametrize("village", ["610902107001", "610925100001", "610981100006"])
def test_a_village_exported_imports_back_whole(client, village):
    """Export → import (dry run) of a seeded village's cells: every feature is accepted, nothing changes."""
    exported = _exported_cells(client, village)
    tiers = {f["properties"]["tier"] for f in exported["features"]}
    assert tiers == {1, 2, 3}
    before = grid_count()
    result = post_import(client, exported, dry_run=True)
    assert result["rejected"] == [] and result["accepted"] == len(exported["features"])
    assert result["written"] == 0 and grid_count() == before


def test_every_seeded_cell_lies_inside_its_parent():
    """What the import checks of a cell and its parent holds for every seeded cell (not only a sample)."""
    sticking_out = db.session.execute(text("""
        select c.code from grids c join grids p on p.code = c.parent_code
        where ST_Area(ST_Difference(c.boundary, p.boundary)) > 1e-6 * ST_Area(c.boundary)
    """)).scalars().all()
    assert sticking_out == []


def test_a_written_import_is_audited_and_a_dry_run_is_not(client, split):
    post_import(client, collection(*split_features(split)), dry_run=True)
    assert client.get("/api/v1/audit?action=grid.import").get_json() == [] or all(
        e["action"] != "grid.import" for e in client.get("/api/v1/audit?page_size=1000").get_json())
    post_import(client, collection(*split_features(split)))
    entries = [e for e in client.get("/api/v1/audit?page_size=1000").get_json() if e["action"] == "grid.import"]
    assert len(entries) == 1
    [entry] = entries
    assert entry["actor"] == "admin" and entry["region_code"] == split.village_code
    assert entry["details"]["written"] == 2 and sorted(entry["details"]["codes"]) == sorted(
        [split.child_code, split.new_code])

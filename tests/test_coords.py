"""core.coords: GCJ-02 / BD-09 conversions against the published wandergis/coordtransform vectors."""
from __future__ import annotations

import math

import numpy as np
import pytest

from core import coords

# Published test vectors of https://github.com/wandergis/coordtransform (input 116.404, 39.915).
LON, LAT = 116.404, 39.915
WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)

# The Ankang bounding box (DESIGN.md).
ANKANG_LON = (108.0, 110.2)
ANKANG_LAT = (31.7, 33.8)
EARTH_RADIUS_M = 6_371_008.8


def error_metres(lon_a, lat_a, lon_b, lat_b) -> np.ndarray:
    """Distance in metres between two (arrays of) lon/lat points (equirectangular, fine below 1 km)."""
    lon_a, lat_a, lon_b, lat_b = (np.asarray(v, dtype=float) for v in (lon_a, lat_a, lon_b, lat_b))
    mean_lat = np.radians((lat_a + lat_b) / 2)
    dx = np.radians(lon_a - lon_b) * np.cos(mean_lat) * EARTH_RADIUS_M
    dy = np.radians(lat_a - lat_b) * EARTH_RADIUS_M
    return np.hypot(dx, dy)


def ankang_points(count: int = 2000, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random WGS84 points across the Ankang bounding box."""
    rng = np.random.default_rng(seed)
    return rng.uniform(*ANKANG_LON, count), rng.uniform(*ANKANG_LAT, count)


def test_wgs84_to_gcj02_matches_published_vector():
    lon, lat = coords.wgs84_to_gcj02(LON, LAT)
    assert float(lon) == pytest.approx(WGS84_TO_GCJ02[0], abs=1e-9)
    assert float(lat) == pytest.approx(WGS84_TO_GCJ02[1], abs=1e-9)


def test_gcj02_to_bd09_matches_published_vector():
    lon, lat = coords.gcj02_to_bd09(LON, LAT)
    assert float(lon) == pytest.approx(GCJ02_TO_BD09[0], abs=1e-9)
    assert float(lat) == pytest.approx(GCJ02_TO_BD09[1], abs=1e-9)


def test_wgs84_to_bd09_is_the_composition():
    expected = coords.gcj02_to_bd09(*coords.wgs84_to_gcj02(LON, LAT))
    lon, lat = coords.wgs84_to_bd09(LON, LAT)
    assert float(lon) == float(expected[0])
    assert float(lat) == float(expected[1])


def test_gcj02_to_wgs84_inverts_the_published_vector():
    lon, lat = coords.gcj02_to_wgs84(*WGS84_TO_GCJ02)
    assert abs(float(lon) - LON) < 1e-7
    assert abs(float(lat) - LAT) < 1e-7


def test_bd09_to_gcj02_inverts_the_published_vector():
    lon, lat = coords.bd09_to_gcj02(*GCJ02_TO_BD09)
    assert abs(float(lon) - LON) < 1e-7
    assert abs(float(lat) - LAT) < 1e-7


def test_bd09_to_wgs84_round_trips():
    lon, lat = coords.bd09_to_wgs84(*coords.wgs84_to_bd09(LON, LAT))
    assert abs(float(lon) - LON) < 1e-7
    assert abs(float(lat) - LAT) < 1e-7


@pytest.mark.parametrize("crs, forward", [
    ("gcj02", coords.wgs84_to_gcj02),
    ("bd09", coords.wgs84_to_bd09),
])
def test_to_wgs84_round_trips_a_scalar_to_floats(crs, forward):
    lon, lat = coords.to_wgs84(*(float(v) for v in forward(LON, LAT)), crs)
    assert isinstance(lon, float) and isinstance(lat, float)
    assert abs(lon - LON) < 1e-7
    assert abs(lat - LAT) < 1e-7


def test_to_wgs84_converts_the_published_gcj02_vector():
    lon, lat = coords.to_wgs84(*WGS84_TO_GCJ02, "gcj02")
    assert abs(lon - LON) < 1e-7
    assert abs(lat - LAT) < 1e-7


@pytest.mark.parametrize("crs, forward", [
    ("gcj02", coords.wgs84_to_gcj02),
    ("bd09", coords.wgs84_to_bd09),
])
def test_to_wgs84_round_trips_arrays_across_ankang_under_one_metre(crs, forward):
    lon, lat = ankang_points()
    shifted_lon, shifted_lat = forward(lon, lat)
    # The obfuscation really moves points (hundreds of metres), so the test is not vacuous.
    assert error_metres(shifted_lon, shifted_lat, lon, lat).min() > 50
    back_lon, back_lat = coords.to_wgs84(shifted_lon, shifted_lat, crs)
    assert isinstance(back_lon, np.ndarray) and back_lon.shape == lon.shape
    assert error_metres(back_lon, back_lat, lon, lat).max() < 1.0


@pytest.mark.parametrize("crs", ["wgs84", "cgcs2000"])
def test_wgs84_and_cgcs2000_pass_through(crs):
    assert coords.to_wgs84(LON, LAT, crs) == (LON, LAT)
    lon, lat = ankang_points(50)
    out_lon, out_lat = coords.to_wgs84(lon, lat, crs)
    np.testing.assert_array_equal(out_lon, lon)
    np.testing.assert_array_equal(out_lat, lat)


def test_to_wgs84_defaults_to_wgs84():
    assert coords.to_wgs84(LON, LAT) == (LON, LAT)


@pytest.mark.parametrize("crs", ["mercator", "GCJ-02", "", "epsg:3857"])
def test_unknown_crs_raises_value_error(crs):
    with pytest.raises(ValueError):
        coords.to_wgs84(LON, LAT, crs)


def test_outside_china_is_not_shifted():
    lon, lat = coords.wgs84_to_gcj02(2.35, 48.85)  # Paris
    assert (float(lon), float(lat)) == (2.35, 48.85)


def test_to_wgs84_mixed_converts_each_point_by_its_own_crs():
    lon, lat = ankang_points(40, seed=3)
    crs = np.array(["wgs84", "cgcs2000", "gcj02", "bd09"] * 10)
    given_lon, given_lat = lon.copy(), lat.copy()
    for name, forward in (("gcj02", coords.wgs84_to_gcj02), ("bd09", coords.wgs84_to_bd09)):
        mask = crs == name
        given_lon[mask], given_lat[mask] = forward(lon[mask], lat[mask])
    out_lon, out_lat = coords.to_wgs84_mixed(given_lon, given_lat, crs)
    assert error_metres(out_lon, out_lat, lon, lat).max() < 1.0
    passthrough = np.isin(crs, ["wgs84", "cgcs2000"])
    np.testing.assert_array_equal(out_lon[passthrough], lon[passthrough])
    np.testing.assert_array_equal(out_lat[passthrough], lat[passthrough])
    # The inputs are not modified in place.
    assert not np.array_equal(given_lon, lon)
    assert error_metres(given_lon, given_lat, lon, lat)[~passthrough].min() > 50


def test_to_wgs84_mixed_accepts_lists():
    gcj_lon, gcj_lat = (float(v) for v in coords.wgs84_to_gcj02(109.0, 32.7))
    out_lon, out_lat = coords.to_wgs84_mixed([109.0, gcj_lon], [32.7, gcj_lat], ["wgs84", "gcj02"])
    assert out_lon.tolist()[0] == 109.0 and out_lat.tolist()[0] == 32.7
    assert math.isclose(out_lon[1], 109.0, abs_tol=1e-7)
    assert math.isclose(out_lat[1], 32.7, abs_tol=1e-7)


def test_to_wgs84_mixed_rejects_an_unknown_crs():
    with pytest.raises(ValueError):
        coords.to_wgs84_mixed([109.0, 109.1], [32.7, 32.8], ["wgs84", "gcj-02"])

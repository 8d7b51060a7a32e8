"""The supervisors' dashboard, driven in Debian's headless Chromium through Playwright.

The browser talks to a real gunicorn (the ``live_server`` fixture) over HTTP, exactly as
a supervisor's browser would: it signs in, waits for the village polygons to be drawn
from the vector tiles, drills into a county, a township (from the lagging list) and a
village (by clicking it on the map), reads the panels and downloads the exports.
Screenshots go to ``test-output/dashboard/``.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import time
import urllib.request
from pathlib import Path

import openpyxl
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
OUTPUT = Path(os.environ.get("GRIDS_TEST_OUTPUT", Path(__file__).resolve().parent.parent / "test-output")) / "dashboard"
# Debian's chromium as root in a sandbox with no network: the flags the machine notes ask for,
# plus SwiftShader so WebGL (MapLibre) renders without a GPU.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
READY = "document.body.dataset.state === 'ready'"
CITY = "610900000000"
TILES_LOADED = "window.gridsDashboard.state.map && window.gridsDashboard.state.map.areTilesLoaded()"


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("GRIDS_REQUIRE_TOOLS") == "1":
            pytest.fail("chromium is required (scripts/system_tools.py chromium)")
        pytest.skip("Debian's chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1400, "height": 850}, accept_downloads=True,
                                  base_url=live_server.url)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    # What the page's Content-Security-Policy refused would be missing from the page.
    opened.on("console", lambda message: errors.append(message.text)
              if message.type == "error" and "Content Security Policy" in message.text else None)
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


def _api(live_server, path: str, token: str | None = None, body: dict | None = None, with_headers: bool = False):
    """The JSON the live server answers (and its headers, when asked)."""
    request = urllib.request.Request(live_server.url + "/api/v1" + path,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return (json.load(response), response.headers) if with_headers else json.load(response)


def _click_map_at(page, lon: float, lat: float) -> None:
    """A mouse click on the map where the point (lon, lat) is drawn."""
    x, y = page.evaluate(f"(() => {{ const p = window.gridsDashboard.state.map.project([{lon}, {lat}]);"
                         f" return [p.x, p.y]; }})()")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)


def _sign_in_as_new_account(page, live_server, role: str, level: str) -> dict:
    """Create an account of ``role`` scoped to the first region of ``level``, sign in; that region."""
    token = _admin_token(live_server)
    region = _api(live_server, f"/regions?level={level}&page_size=1", token)[0]
    username, password = f"dashboard_{level}", f"{level}-password-1"
    _api(live_server, "/users", token, {"username": username, "password": password, "role": role,
                                        "scope": region["code"]})
    _sign_in(page, username, password)
    _wait_drawn(page)
    return region


def _admin_token(live_server) -> str:
    return _api(live_server, "/auth/token", body={"username": live_server.username,
                                                  "password": live_server.password})["access_token"]


def _sign_in(page, username: str, password: str) -> None:
    page.goto("/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#signin-submit")


def _wait(page, expression: str, timeout: int = 30_000) -> None:
    """Poll ``expression`` until it is true (Playwright's wait_for_function compiles strings with eval,
    which the page's Content-Security-Policy rightly forbids)."""
    deadline = time.monotonic() + timeout / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise TimeoutError(f"still false after {timeout} ms: {expression}")
        time.sleep(0.05)


def _wait_drawn(page) -> None:
    _wait(page, "['ready', 'error'].includes(document.body.dataset.state)", timeout=30_000)
    assert page.get_attribute("body", "data-state") == "ready", page.inner_text("#status")
    _wait(page, TILES_LOADED, timeout=30_000)
    # One more frame so what was loaded is also painted.
    page.evaluate("new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))")


def _rendered_codes(page, layer: str) -> set[str]:
    return set(page.evaluate(
        f"window.gridsDashboard.state.map.queryRenderedFeatures({{layers: ['{layer}']}}).map((f) => f.id)"))


def _shot(page, name: str) -> Path:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000
    return path


def test_the_page_and_the_map_library_are_served_without_a_cdn(anonymous_client):
    page = anonymous_client.get("/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "/dashboard/vendor/maplibre-gl/maplibre-gl.js" in html
    assert "https://" not in html and "http://" not in html  # nothing from the internet
    library = anonymous_client.get("/dashboard/vendor/maplibre-gl/maplibre-gl.js")
    assert library.status_code == 200 and len(library.get_data()) > 100_000
    assert anonymous_client.get("/dashboard/static/dashboard.js").status_code == 200
    assert anonymous_client.get("/dashboard/vendor/left-pad/index.js").status_code == 404
    assert anonymous_client.get("/dashboard/vendor/maplibre-gl/../package.json").status_code == 404
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy


def test_a_supervisor_signs_in_drills_down_and_downloads(page, live_server):
    token = _admin_token(live_server)
    villages = _api(live_server, "/regions?level=village&page_size=1000", token)
    village_total = len(villages)  # the test city has fewer than 1,000 villages
    assert 0 < village_total < 1000

    _sign_in(page, live_server.username, live_server.password)
    _wait_drawn(page)
    assert page.title() == "反诈网格督导台"  # Chinese first
    assert page.get_attribute("body", "data-level") == "city"
    drawn = _rendered_codes(page, "villages-fill")
    assert drawn == {village["code"] for village in villages}, "every village of the city is drawn"
    report = _api(live_server, f"/coverage?by=village&region={CITY}", token)
    bands = page.evaluate("""(codes) => codes.map((id) => window.gridsDashboard.state.map.getFeatureState(
        {source: 'villages', sourceLayer: 'villages', id}).band)""", [row["code"] for row in report])
    assert bands == [row["band"] if row["households"] else "none" for row in report], "coloured by the report"
    assert any(row["households_visited"] for row in report)
    _shot(page, "1-city")

    # County, then township, from the lagging list (lowest coverage first).
    county_code = page.get_attribute("#lagging tbody tr.drill >> nth=0", "data-code")
    page.click("#lagging tbody tr.drill >> nth=0")
    _wait(page, f"{READY} && document.body.dataset.region === '{county_code}'")
    township_code = page.get_attribute("#lagging tbody tr.drill >> nth=0", "data-code")
    page.click("#lagging tbody tr.drill >> nth=0")
    _wait(page, f"{READY} && document.body.dataset.region === '{township_code}'")
    _wait_drawn(page)
    township = _api(live_server, f"/regions/{township_code}", token)
    county = _api(live_server, f"/regions/{county_code}", token)
    crumbs = page.inner_text("#breadcrumbs")
    assert county["name"] in crumbs and township["name"] in crumbs
    listed = [row.get_attribute("data-code") for row in page.query_selector_all("#lagging tbody tr.drill")]
    in_township = _api(live_server, f"/regions?parent={township_code}&page_size=1000", token)
    assert sorted(listed) == sorted(region["code"] for region in in_township)
    _shot(page, "2-township")

    # The village: clicked on the map, at a point inside it.
    village_code = listed[-1]
    feature = _api(live_server, f"/regions/{village_code}?f=geojson", token)
    lon, lat = _interior_point(feature["geometry"])
    _click_map_at(page, lon, lat)
    _wait(page, f"{READY} && document.body.dataset.region === '{village_code}'")
    _wait_drawn(page)
    cells = {grid["code"] for grid in _api(live_server, f"/grids?region={village_code}&tier=3&page_size=1000", token)}
    assert cells and _rendered_codes(page, "village-cells-fill") == cells, "the village's cells are drawn"
    assert {row.get_attribute("data-code") for row in page.query_selector_all("#lagging tbody tr")} == cells
    _shot(page, "3-village")

    # Downloads of the village's cell report, in both formats.
    with page.expect_download() as csv_download:
        page.click("#download-csv")
    text = Path(csv_download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["code"] for row in rows} == cells
    with page.expect_download() as xlsx_download:
        page.click("#download-xlsx")
    assert xlsx_download.value.suggested_filename.endswith(".xlsx")
    saved = OUTPUT / xlsx_download.value.suggested_filename
    xlsx_download.value.save_as(saved)
    sheet = openpyxl.load_workbook(saved).active
    assert sheet.max_row == len(cells) + 1

    # Flagged visits and certification panels answer for the village.
    page.click("button[data-tab=flagged]")
    _wait(page, READY)
    flagged = _api(live_server, f"/visits?flagged=true&region={village_code}&page_size=100", token)
    shown = [row.get_attribute("data-id") for row in page.query_selector_all("#flagged tbody tr[data-id]")]
    assert shown == [visit["id"] for visit in flagged]
    page.click("button[data-tab=certification]")
    _wait(page, READY)
    criteria = page.locator("#certification tbody tr")
    assert criteria.count() == 4
    _shot(page, "4-certification")

    # Back up through the breadcrumbs, and English on request.
    page.click(f"#breadcrumbs a[data-code='{county_code}']")
    _wait(page, f"{READY} && document.body.dataset.region === '{county_code}'")
    page.click("#language")
    assert page.title() == "Anti-fraud grid dashboard"
    assert page.inner_text("button[data-tab=lagging]") == "Lagging"


def test_flagged_visits_listed_for_the_period(page, live_server):
    token = _admin_token(live_server)
    visits = _api(live_server, "/visits?flagged=true&page_size=5", token)
    _sign_in(page, live_server.username, live_server.password)
    _wait_drawn(page)
    page.click("button[data-tab=flagged]")
    _wait(page, READY)
    assert visits, "the live server's visit history has flagged visits"
    assert page.get_attribute("#flagged tbody tr >> nth=0", "data-id") == visits[0]["id"]
    assert page.locator("#flagged tbody tr").count() == min(100, int(_total_flagged(live_server, token)))
    _shot(page, "6-flagged")


def test_no_flagged_visits_says_so(page, live_server):
    _sign_in(page, live_server.username, live_server.password)
    _wait_drawn(page)
    page.fill("#period-from", "2020-01-01")
    page.fill("#period-to", "2020-01-31")
    page.click("#period-apply")
    _wait(page, READY)
    page.click("button[data-tab=flagged]")
    _wait(page, READY)
    assert page.inner_text("#flagged tbody") == "本期没有异常走访"
    page.click("button[data-tab=lagging]")
    _wait(page, READY)
    # Nobody was visited in 2020: every county lags with no one visited.
    assert set(page.locator("#lagging tbody tr td:nth-child(3)").all_inner_texts()) == {"0"}


def test_zoomed_in_anywhere_cells_are_coloured_for_the_period(page, live_server):
    token = _admin_token(live_server)
    village = _api(live_server, "/regions?level=village&page_size=1", token)[0]
    lon, lat = _interior_point(_api(live_server, f"/regions/{village['code']}?f=geojson", token)["geometry"])
    _sign_in(page, live_server.username, live_server.password)
    _wait_drawn(page)
    page.evaluate(f"window.gridsDashboard.state.map.jumpTo({{center: [{lon}, {lat}], zoom: 12.5}})")
    _wait_drawn(page)
    _wait(page, """(() => {
        const map = window.gridsDashboard.state.map;
        const cells = map.queryRenderedFeatures({layers: ['cells-fill']});
        return cells.length > 0 && cells.every((cell) => map.getFeatureState(
            {source: 'grids', sourceLayer: 'grids', id: cell.id}).band);
    })()""", timeout=30_000)
    drawn = _rendered_codes(page, "cells-fill")
    township = f"{village['code'][:9]}000"
    report = {row["code"]: row for row in _api(live_server, f"/coverage?by=grid&region={township}", token)}
    for code in drawn & set(report):
        state = page.evaluate(f"window.gridsDashboard.state.map.getFeatureState("
                              f"{{source: 'grids', sourceLayer: 'grids', id: '{code}'}})")
        assert state["band"] == (report[code]["band"] if report[code]["households"] else "none")
    _shot(page, "7-cells-zoomed-in")


def test_fast_clicks_history_and_an_expired_token(page, live_server):
    token = _admin_token(live_server)
    village = _api(live_server, "/regions?level=village&page_size=1", token)[0]
    county_code = village["code"][:6] + "000000"
    # A double click on 登录 signs in once: one map.
    page.goto("/")
    page.fill("#username", live_server.username)
    page.fill("#password", live_server.password)
    page.dblclick("#signin-submit")
    _wait_drawn(page)
    assert page.locator("canvas.maplibregl-canvas").count() == 1

    # A click on a village at city level opens its county: one level at a time.
    lon, lat = _interior_point(_api(live_server, f"/regions/{village['code']}?f=geojson", token)["geometry"])
    _click_map_at(page, lon, lat)
    _wait(page, f"{READY} && document.body.dataset.region === '{county_code}'")

    # Asked for a village and then the city at once: the city wins, whatever answers first.
    page.evaluate(f"window.gridsDashboard.open('{village['code']}'); window.gridsDashboard.open('{CITY}')")
    _wait(page, f"{READY} && document.body.dataset.region === '{CITY}'")
    page.wait_for_timeout(300)
    assert page.get_attribute("body", "data-region") == CITY
    assert page.inner_text("#breadcrumbs") == "安康市"

    # Back returns to the county; the summary follows the region on any tab.
    page.click("button[data-tab=flagged]")
    _wait(page, READY)
    page.go_back()
    _wait(page, f"{READY} && document.body.dataset.region === '{county_code}'")
    county = _api(live_server, f"/regions/{county_code}", token)
    assert page.inner_text("#summary").startswith(county["name"])

    # An access token that no longer works: tiles are refused, the token is refreshed, the tiles come.
    page.evaluate("window.gridsDashboard.state.access = 'expired.token.value'")
    page.evaluate(f"window.gridsDashboard.state.map.jumpTo({{center: [{lon}, {lat}], zoom: 12.5}})")
    _wait(page, "window.gridsDashboard.state.access !== 'expired.token.value'")
    _wait_drawn(page)
    _wait(page, "window.gridsDashboard.state.map.queryRenderedFeatures({layers: ['cells-fill']}).length > 0")

    # The scope prefix is read as the server reads it (level boundaries, not trailing zeros).
    assert page.evaluate("['610900000000', '610902000000', '610902010000', '610902001010']"
                         ".map(window.gridsDashboard.codePrefix)") == ["6109", "610902", "610902010",
                                                                       "610902001010"]


def _total_flagged(live_server, token) -> int:
    _visits, headers = _api(live_server, "/visits?flagged=true&page_size=1", token, with_headers=True)
    return json.loads(headers["X-Pagination"])["total"]


def test_sign_in_refuses_bad_passwords_and_roles_without_a_map(page, live_server):
    token = _admin_token(live_server)
    _api(live_server, "/users", token, {"username": "dashboard_police", "password": "police-password-1",
                                        "role": "police", "scope": "610900000000"})
    _sign_in(page, live_server.username, "not-the-password")
    _wait(page, "document.getElementById('signin-error').textContent !== ''")
    assert page.inner_text("#signin-error") == "用户名或密码错误"
    _sign_in(page, "dashboard_police", "police-password-1")
    _wait(page, "document.getElementById('signin-error').textContent !== ''")
    assert page.inner_text("#signin-error") == "此账号无权使用督导台"
    assert page.is_hidden("#dashboard-view")


def test_a_township_supervisor_sees_only_their_township(page, live_server):
    token = _admin_token(live_server)
    township = _sign_in_as_new_account(page, live_server, "township_supervisor", "township")
    assert page.get_attribute("body", "data-region") == township["code"]
    own = {region["code"] for region in _api(live_server, f"/regions?parent={township['code']}", token)}
    page.evaluate("window.gridsDashboard.state.map.zoomOut({duration: 0})")
    _wait_drawn(page)
    assert _rendered_codes(page, "villages-fill") == own  # neighbours are out of scope: not drawn
    _shot(page, "5-township-supervisor")


def test_a_village_administrator_lands_on_their_cells(page, live_server):
    token = _admin_token(live_server)
    village = _sign_in_as_new_account(page, live_server, "village_admin", "village")
    assert page.get_attribute("body", "data-level") == "village"
    assert page.inner_text("#breadcrumbs") == village["name"]  # nothing above their scope
    cells = {grid["code"] for grid in _api(live_server, f"/grids?region={village['code']}&tier=3&page_size=1000",
                                           token)}
    assert _rendered_codes(page, "village-cells-fill") == cells
    assert {row.get_attribute("data-code") for row in page.query_selector_all("#lagging tbody tr")} == cells

    # Signing out and in as someone else on the same page starts from their own territory.
    page.click("#signout")
    page.fill("#username", live_server.username)
    page.fill("#password", live_server.password)
    page.click("#signin-submit")
    _wait_drawn(page)
    assert page.get_attribute("body", "data-level") == "city"


def _interior_point(geometry) -> tuple[float, float]:
    from shapely.geometry import shape

    point = shape(geometry).representative_point()
    return point.x, point.y

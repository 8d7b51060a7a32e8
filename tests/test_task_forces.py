"""The four-level warning task forces: the seeded figures, the list, and where an escalated warning sits."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from outreach.certification.seed import seed_cases_and_certifications
from outreach.warnings.seed import ROLES, seed_task_forces
from outreach.warnings.services import create_warnings, escalate
from tests.helpers import pagination, sql

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CELL = "610902107001-01-01"  # in 恒口镇, which 恒口示范区 runs


def test_at_full_scale_the_article_figures_add_up():
    # 1 city, 12 county-level units, 139 townships, 1,924 villages (2023 codes): 2,076 task forces.
    forces = {"city": 1, "county": 12, "township": 139, "village": 1924}
    assert sum(forces.values()) == 2076
    assert sum(n * len(ROLES[level]) for level, n in forces.items()) == 8430


def test_seeded_task_forces_one_per_region_with_people(client):
    figures = seed_task_forces()
    regions = sql("select count(*) from regions").scalar()
    assert figures["task_forces"] == regions == 1 + 12 + 12 + 38
    assert figures["people"] == 34 + 12 * 12 + 12 * 4 + 38 * 4
    # A village's force has its secretary, a cadre and a grid worker from the embedded members.
    linked = sql("""select count(*) from task_force_people p join task_forces f on f.id = p.task_force_id
                    join members m on m.id = p.member_id
                    where f.level = 'village' and m.village_code = f.region_code""").scalar()
    embedded = sql("""select count(*) from (select distinct village_code, kind from members
                      where kind in ('village_secretary', 'village_cadre', 'grid_worker')) k""").scalar()
    assert linked == embedded >= 38 * 2  # every village has a secretary and cadres; most a grid worker
    response = client.get("/api/v1/warnings/task-forces?level=village&page_size=100")
    assert response.status_code == 200 and pagination(response)["total"] == 38
    first = response.get_json()[0]
    assert first["name"].endswith("预警处置专班") and len(first["people"]) == 4
    assert {p["role"] for p in first["people"]} == set(ROLES["village"])
    zone = client.get("/api/v1/warnings/task-forces?region=610972000000").get_json()
    assert [f["region_code"] for f in zone] == ["610972000000"]
    assert client.get("/api/v1/warnings/task-forces?level=mayor").status_code == 422


def test_an_escalated_warning_names_its_task_force(client):
    seed_task_forces()
    home = sql("select min(id) from households where grid_code = :g", g=CELL).scalar_one()
    [(warning, _)] = create_warnings([{"external_ref": f"E-{uuid.uuid4().hex[:12]}", "level": "high",
                                       "reason": "investment", "household_id": home}], "test", now=T0)
    detail = client.get(f"/api/v1/warnings/{warning.id}").get_json()
    assert detail["escalation"] == "member" and detail["task_force"] is None
    expected = ["610902107000", "610972000000", "610900000000"]  # the county-level step is the zone's
    moment = T0
    for region in expected:
        moment += timedelta(days=2)
        escalate(moment)
        detail = client.get(f"/api/v1/warnings/{warning.id}").get_json()
        assert detail["task_force"]["region_code"] == region


def test_cases_and_certifications_reproduce_the_article_shares():
    figures = seed_cases_and_certifications()
    assert figures["villages"] == 38 and figures["case_free"] == round(38 * 1433 / 1924) == 28
    assert figures["certified"] == round(38 * 0.715) and figures["certified"] / 38 > 0.7
    first_half_free = sql("""
        select count(*) from regions r where level = 'village' and not exists (
            select 1 from cases c where c.village_code = r.code
              and c.occurred_on between make_date(extract(year from current_date)::int, 1, 1)
                                    and make_date(extract(year from current_date)::int, 6, 30))""").scalar()
    assert first_half_free == 28
    assert sql("""select count(*) from certifications c where exists (
                    select 1 from cases k where k.village_code = c.village_code)""").scalar() == 0

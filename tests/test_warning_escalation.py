"""The escalation pass over fund warnings, with a controlled clock: past its deadline a warning goes to the
township, then the county, then the city task force, each step with a new deadline and an 'escalated' event;
urgent warnings are due at their acknowledgement deadline until acknowledged; closed ones never move; the
command line; and two SQL statements per pass (the escalation, the notifications) whatever the number."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import event

from core.extensions import db
from outreach.warnings import services
from outreach.warnings.services import create_warnings, escalate, record_event
from tests.helpers import sql

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
CELL = "610981100004-01-01"
MEET = {"urgent": 30, "high": 120, "medium": 1440, "low": 4320}
SECOND = timedelta(seconds=1)


# --- helpers ---

def household() -> int:
    return sql("select min(id) from households where grid_code = :g and removed_at is null", g=CELL).scalar_one()


def make(level: str, n: int = 1, now: datetime = T0) -> list[int]:
    """Warnings created at ``now`` (through the service, as the API does), routed to the cell's chief."""
    home = household()
    items = [{"external_ref": f"E-{uuid.uuid4().hex[:16]}", "level": level, "reason": "investment",
              "household_id": home} for _ in range(n)]
    return [warning.id for warning, created in create_warnings(items, "test", now=now)]


def state(warning_id: int):
    return sql("select status, escalation_level, deadline, ack_deadline, meet_deadline, assigned_member_id "
               "from warnings where id = :i", i=warning_id).one()


def escalations(warning_id: int) -> list[tuple]:
    return [tuple(row) for row in sql("select escalated_to, at, deadline, by from warning_events "
                                      "where warning_id = :i and type = 'escalated' order by at", i=warning_id)]


def member_event(warning_id: int, kind: str, at: datetime, **fields) -> None:
    """An event from the phone of the member the warning went to."""
    member = state(warning_id).assigned_member_id
    user = SimpleNamespace(role="grid_worker", member_id=member, username="phone")
    record_event(warning_id, {"id": uuid.uuid4(), "type": kind, "at": at, **fields}, user)


# --- urgent ---

def test_unacknowledged_urgent_climbs_township_county_city_then_stays():
    [warning] = make("urgent")
    first = state(warning)
    assert (first.escalation_level, first.deadline, first.ack_deadline, first.meet_deadline) == (
        0, T0 + timedelta(minutes=5), T0 + timedelta(minutes=5), T0 + timedelta(minutes=30))

    assert escalate(T0 + timedelta(minutes=4)) == 0
    assert escalate(T0 + timedelta(minutes=5)) == 0  # due at the deadline, escalated only past it
    assert state(warning).escalation_level == 0

    step1 = T0 + timedelta(minutes=5) + SECOND
    assert escalate(step1) == 1
    after = state(warning)
    assert (after.status, after.escalation_level, after.deadline, after.ack_deadline) == (
        "open", 1, step1 + timedelta(minutes=30), None)
    assert escalations(warning) == [("township", step1, step1 + timedelta(minutes=30), "escalation")]

    assert escalate(step1 + timedelta(minutes=29)) == 0  # the township's 30 minutes are not over
    step2 = step1 + timedelta(minutes=30) + SECOND
    assert escalate(step2) == 1
    step3 = step2 + timedelta(minutes=30) + SECOND
    assert escalate(step3) == 1
    final = state(warning)
    assert (final.escalation_level, final.deadline) == (3, step3 + timedelta(minutes=30))
    assert escalations(warning) == [
        ("township", step1, step1 + timedelta(minutes=30), "escalation"),
        ("county", step2, step2 + timedelta(minutes=30), "escalation"),
        ("city", step3, step3 + timedelta(minutes=30), "escalation")]

    # The city is the top: no further steps, however late.
    assert escalate(step3 + timedelta(hours=1)) == 0
    assert escalate(step3 + timedelta(days=30)) == 0
    assert state(warning).escalation_level == 3 and len(escalations(warning)) == 3
    assert state(warning).assigned_member_id == first.assigned_member_id  # the member keeps it too


def test_urgent_notifies_the_township_at_once():
    [warning] = make("urgent")
    notified = sql("select escalated_to, at from warning_events where warning_id = :i and type = 'notified'",
                   i=warning).all()
    assert [tuple(row) for row in notified] == [("township", T0)]
    assert state(warning).escalation_level == 0  # notified, not escalated
    [high] = make("high")
    assert sql("select count(*) from warning_events where warning_id = :i and type = 'notified'",
               i=high).scalar() == 0


def test_acknowledged_urgent_is_due_at_its_meet_deadline():
    [warning] = make("urgent")
    member_event(warning, "acknowledged", T0 + timedelta(minutes=2))
    acked = state(warning)
    assert (acked.status, acked.deadline, acked.ack_deadline) == ("acknowledged", T0 + timedelta(minutes=30), None)

    assert escalate(T0 + timedelta(minutes=6)) == 0  # past the acknowledgement deadline: no matter now
    assert escalate(T0 + timedelta(minutes=29)) == 0
    step = T0 + timedelta(minutes=30) + SECOND
    assert escalate(step) == 1
    after = state(warning)
    assert (after.status, after.escalation_level, after.deadline) == ("acknowledged", 1, step + timedelta(minutes=30))


def test_acknowledged_after_escalation_keeps_the_escalation_deadline():
    [warning] = make("urgent")
    step = T0 + timedelta(minutes=6)
    assert escalate(step) == 1
    member_event(warning, "acknowledged", step + timedelta(minutes=1))
    assert state(warning).deadline == step + timedelta(minutes=30)
    assert escalate(step + timedelta(minutes=30) + SECOND) == 1
    assert state(warning).escalation_level == 2


# --- the other levels ---

@pytest.mark.parametrize("level", ["high", "medium", "low"])
def test_each_level_moves_one_step_per_pass_after_its_meet_window(level):
    window = timedelta(minutes=MEET[level])
    [warning] = make(level)
    created = state(warning)
    assert (created.deadline, created.ack_deadline) == (T0 + window, None)

    assert escalate(T0 + window - timedelta(minutes=1)) == 0
    assert escalate(T0 + window) == 0
    assert state(warning).escalation_level == 0

    now = T0 + window + timedelta(minutes=1)
    assert escalate(now) == 1
    assert escalate(now) == 0  # one step per pass, even when run twice at the same moment
    assert (state(warning).escalation_level, state(warning).deadline) == (1, now + window)

    assert escalate(now + window - timedelta(minutes=1)) == 0
    later = now + window + timedelta(minutes=1)
    assert escalate(later + timedelta(days=10)) == 1  # however late, a pass moves it a single step
    assert state(warning).escalation_level == 2
    assert [to for to, *_ in escalations(warning)] == ["township", "county"]


def test_only_warnings_past_their_deadline_move():
    urgent, high, low = make("urgent")[0], make("high")[0], make("low")[0]
    assert escalate(T0 + timedelta(minutes=121)) == 2
    assert [state(w).escalation_level for w in (urgent, high, low)] == [1, 1, 0]


def test_a_warning_routed_to_nobody_starts_at_the_township_and_goes_to_the_county():
    sql("update assignments set valid_to = now() where grid_code = any(:c) and valid_to is null",
        c=[CELL, CELL[:15] + "-00", CELL[:12] + "-00-00"])
    [warning] = make("high")
    routed = state(warning)
    assert (routed.assigned_member_id, routed.escalation_level, routed.deadline) == (None, 1, T0 + timedelta(hours=2))
    now = T0 + timedelta(hours=2, minutes=1)
    assert escalate(now) == 1
    assert escalations(warning) == [("county", now, now + timedelta(hours=2), "escalation")]


# --- what never moves ---

@pytest.mark.parametrize("outcome", ["dissuaded", "transferred", "not_found", "false_alarm"])
def test_closed_warnings_never_escalate(outcome):
    [warning] = make("urgent")
    member_event(warning, "met", T0 + timedelta(minutes=20))
    member_event(warning, "outcome", T0 + timedelta(minutes=25), outcome=outcome,
                 amount_yuan=100.0 if outcome == "transferred" else None)
    assert state(warning).status == "closed"
    for later in (timedelta(minutes=6), timedelta(hours=2), timedelta(days=40)):
        assert escalate(T0 + later) == 0
    assert (state(warning).escalation_level, escalations(warning)) == (0, [])


def test_a_warning_closed_after_escalation_stops_there():
    [warning] = make("high")
    assert escalate(T0 + timedelta(hours=3)) == 1
    member_event(warning, "met", T0 + timedelta(hours=3, minutes=10))
    member_event(warning, "outcome", T0 + timedelta(hours=3, minutes=20), outcome="dissuaded")
    assert escalate(T0 + timedelta(days=3)) == 0
    assert state(warning).escalation_level == 1


# --- the command line ---

def test_cli_escalates_and_prints_the_count(app):
    make("high", n=2)
    make("low")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["warnings", "escalate", "--now", "2026-11-02T19:01:00+08:00"])  # T0 + 2h01
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "escalated 2 warning(s)"
    assert sql("select count(*) from warning_events where type = 'escalated'").scalar() == 2
    again = runner.invoke(args=["warnings", "escalate", "--now", "2026-11-02T11:01:00Z"])  # the same moment
    assert (again.exit_code, again.output.strip()) == (0, "escalated 0 warning(s)")


def test_cli_rejects_a_naive_time(app):
    make("high")
    result = app.test_cli_runner().invoke(args=["warnings", "escalate", "--now", "2026-11-03T10:00:00"])
    assert result.exit_code == 2
    assert "--now" in result.output and "offset" in result.output
    assert sql("select count(*) from warning_events where type = 'escalated'").scalar() == 0


def test_cli_without_now_uses_the_clock(app):
    [warning] = make("high", now=datetime.now(UTC) - timedelta(hours=3))
    result = app.test_cli_runner().invoke(args=["warnings", "escalate"])
    assert (result.exit_code, result.output.strip()) == (0, "escalated 1 warning(s)")
    assert state(warning).escalation_level == 1


def test_cli_rejects_a_malformed_time_as_a_usage_error(app):
    result = app.test_cli_runner().invoke(args=["warnings", "escalate", "--now", "next tuesday"])
    assert result.exit_code == 2, result.output


# --- a fixed number of statements per pass ---

def statements_during(action) -> tuple[object, list[str]]:
    """Run ``action``; the result and the SQL statements it sent (savepoint bookkeeping left out)."""
    seen: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        result = action()
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    return result, [s for s in seen if not s.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK TO"))]


def test_a_pass_is_two_statements_whatever_the_count():
    # The escalation itself, and the notifications to the task forces (the outbox).
    few = make("high", n=5)
    moved, statements_few = statements_during(lambda: services.escalate(T0 + timedelta(hours=3)))
    assert moved == 5 and len(statements_few) == 2, statements_few

    sql("update warnings set status = 'closed' where id = any(:ids)", ids=few)
    t1 = T0 + timedelta(days=1)
    many = make("medium", n=200, now=t1)
    assert len(many) == 200
    moved, statements_many = statements_during(lambda: services.escalate(t1 + timedelta(days=1, minutes=1)))
    assert moved == 200 and len(statements_many) == len(statements_few) == 2, statements_many
    assert sql("select count(*) from warning_events where type = 'escalated' and warning_id = any(:ids)",
               ids=many).scalar() == 200
    assert sql("select count(*) from warnings where id = any(:ids) and escalation_level = 1", ids=many).scalar() == 200

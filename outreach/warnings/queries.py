"""SQL of fund warnings: set-based routing, the escalation pass, lists and summaries."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, text

from core.extensions import db
from outreach.warnings.models import EVENT_TYPES, FundWarning, TaskForce, TaskForcePerson, WarningEvent


def existing_by_refs(refs: list[str]) -> dict[str, FundWarning]:
    """Warnings already created for these external references, in the caller's scope (idempotency).

    Scoped, so another scope's reference is simply unknown: a reference is unique per village
    (``uq_warnings_village_external_ref``), and no scope is smaller than a village."""
    rows = db.session.scalars(select(FundWarning).where(FundWarning.external_ref.in_(refs))
                              .order_by(FundWarning.id))
    return {w.external_ref: w for w in rows}


def route(grid_codes: list[str]) -> list[int | None]:
    """For each tier-3 cell, the member a warning goes to: the cell's liaison, then worker, then chief,
    then the same roles of the cells above it; the least loaded with open warnings first."""
    rows = db.session.execute(text("""
        with items as (
            select i, grid from unnest(cast(:grids as text[])) with ordinality as t(grid, i)
        ), candidates as (
            select items.i, a.member_id,
                   case a.grid_code when items.grid then 0 when left(items.grid, 15) || '-00' then 1 else 2 end
                       as cell_rank,
                   case a.role when 'liaison' then 0 when 'worker' then 1 else 2 end as role_rank
            from items
            join assignments a on a.valid_to is null
             and a.grid_code in (items.grid, left(items.grid, 15) || '-00', left(items.grid, 12) || '-00-00')
            join members m on m.id = a.member_id and m.active
        ), loads as (
            select assigned_member_id, count(*) as n from warnings
            where status <> 'closed' and assigned_member_id in (select member_id from candidates)
            group by 1
        )
        select distinct on (c.i) c.i, c.member_id
        from candidates c left join loads l on l.assigned_member_id = c.member_id
        order by c.i, c.cell_rank, c.role_rank, coalesce(l.n, 0), c.member_id
    """), {"grids": grid_codes}).all()
    chosen = {int(i): member for i, member in rows}
    return [chosen.get(position) for position in range(1, len(grid_codes) + 1)]


def households_for_warnings(ids: list[int]) -> dict[int, tuple[str, str, float, float]]:
    """id → (grid code, village code, lon, lat) of live households (unscoped; callers check scope)."""
    rows = db.session.execute(text("""
        select id, grid_code, village_code, ST_X(location), ST_Y(location) from households
        where id = any(:ids) and removed_at is null
    """), {"ids": ids})
    return {row[0]: (row[1], row[2], row[3], row[4]) for row in rows}


def insert_warnings(rows: list[dict[str, Any]]) -> list[int]:
    """Insert warnings (and their 'routed' / 'notified' events); their ids in order."""
    columns = ("county_code", "external_ref", "level", "reason", "household_id", "lon", "lat", "grid_code",
               "village_code", "phone_encrypted", "phone_masked", "assigned_member_id", "escalation_level",
               "deadline", "ack_deadline", "meet_deadline", "created_by", "created_at")
    types = ("text", "text", "text", "text", "bigint", "float8", "float8", "text", "text", "bytea", "text", "int",
             "smallint", "timestamptz", "timestamptz", "timestamptz", "text", "timestamptz")
    params = {c: [row[c] for row in rows] for c in columns}
    unnest = ", ".join(f"cast(:{c} as {t}[])" for c, t in zip(columns, types, strict=True))
    ids = db.session.execute(text(f"""
        insert into warnings (county_code, external_ref, level, reason, household_id, location, grid_code,
                              village_code, phone_encrypted, phone_masked, assigned_member_id, status,
                              escalation_level, deadline, ack_deadline, meet_deadline, created_by, created_at)
        select county_code, external_ref, level, reason, household_id,
               ST_SetSRID(ST_MakePoint(lon, lat), 4326), grid_code, village_code, phone_encrypted, phone_masked,
               assigned_member_id, 'open', escalation_level, deadline, ack_deadline, meet_deadline, created_by,
               created_at
        from unnest({unnest}) with ordinality as t({", ".join(columns)}, position)
        order by position
        returning id
    """), params).scalars().all()
    db.session.execute(text("""
        insert into warning_events (county_code, id, warning_id, type, at, escalated_to, deadline, by, member_id)
        select w.county_code, gen_random_uuid(), w.id, 'routed', w.created_at,
               case when w.assigned_member_id is null then 'township' end, w.deadline, 'routing',
               w.assigned_member_id
        from warnings w where w.id = any(:ids)
        union all
        select w.county_code, gen_random_uuid(), w.id, 'notified', w.created_at, 'township', w.deadline, 'routing',
               null
        from warnings w where w.id = any(:ids) and w.level = 'urgent'
    """), {"ids": ids})
    return list(ids)


def escalate(now: datetime, windows: dict[str, int]) -> list[int]:
    """Move every warning past its deadline one level up (township, county, city) with a new deadline,
    recording each step; one statement whatever the count.  The ids of the warnings moved."""
    result = db.session.execute(text("""
        with moved as (
            update warnings w set escalation_level = w.escalation_level + 1, ack_deadline = null,
                   deadline = :now + make_interval(mins => case w.level when 'urgent' then :urgent
                       when 'high' then :high when 'medium' then :medium else :low end)
            where w.status in ('open', 'acknowledged', 'revisit') and w.deadline < :now and w.escalation_level < 3
            returning w.county_code, w.id, w.escalation_level, w.deadline
        )
        , recorded as (
            insert into warning_events (county_code, id, warning_id, type, at, escalated_to, deadline, by)
            select county_code, gen_random_uuid(), id, 'escalated', :now,
                   case escalation_level when 1 then 'township' when 2 then 'county' else 'city' end, deadline,
                   'escalation'
            from moved
        )
        select id from moved
    """), {"now": now, **windows})
    return list(result.scalars())


def warnings_select(prefix: str | None, status: str | None, level: str | None, overdue_at: datetime | None,
                    member_id: int | None = None) -> Select:
    """Warnings for lists: open ones first, by deadline."""
    statement = select(FundWarning).order_by((FundWarning.status == "closed").asc(), FundWarning.deadline,
                                             FundWarning.id)
    if prefix:
        statement = statement.where(FundWarning.village_code.startswith(prefix, autoescape=True))
    if status:
        statement = statement.where(FundWarning.status == status)
    if level:
        statement = statement.where(FundWarning.level == level)
    if overdue_at is not None:
        statement = statement.where(FundWarning.status != "closed", FundWarning.deadline < overdue_at)
    if member_id is not None:  # a member's own warnings, wherever their cells are
        statement = statement.where(FundWarning.assigned_member_id == member_id).execution_options(unscoped=True)
    return statement


def warning_by_id(warning_id: int, lock: bool = False, unscoped: bool = False) -> FundWarning | None:
    """One warning in scope (``unscoped`` for a member's own warnings, wherever they are)."""
    statement = select(FundWarning).where(FundWarning.id == warning_id)
    if unscoped:
        statement = statement.execution_options(unscoped=True)
    if lock:
        statement = statement.with_for_update()
    return db.session.scalar(statement)


def events_of(warning_id: int) -> list[WarningEvent]:
    """A warning's events in time order."""
    return list(db.session.scalars(select(WarningEvent).where(WarningEvent.warning_id == warning_id)
                                   .order_by(WarningEvent.at, WarningEvent.recorded_at)))


def last_member_event(warning_id: int) -> str | None:
    """The type of the latest event the member recorded (acknowledged, called, met, outcome)."""
    return db.session.scalar(select(WarningEvent.type).where(
        WarningEvent.warning_id == warning_id, WarningEvent.type.in_(EVENT_TYPES))
        .order_by(WarningEvent.at.desc(), WarningEvent.recorded_at.desc()).limit(1))


def event_by_id(county_code: str, warning_id: int, event_id) -> WarningEvent | None:
    """A stored event of a warning (for retries)."""
    return db.session.get(WarningEvent, (county_code, warning_id, event_id))


def summary(prefix: str, length: int, level: str, start: datetime, end: datetime) -> list[tuple]:
    """Per child region: warnings, met, met on time, dissuaded, transferred, amount, median minutes to meet."""
    return db.session.execute(text("""
        with w as (
            select left(village_code, :length) as key, status, outcome, amount_yuan, met_at, meet_deadline,
                   extract(epoch from met_at - created_at) / 60 as minutes
            from warnings where village_code like :like and created_at >= :start and created_at < :end
        )
        select r.code, r.name, count(w.key), count(w.met_at), count(*) filter (where w.met_at <= w.meet_deadline),
               count(*) filter (where w.outcome = 'dissuaded'), count(*) filter (where w.outcome = 'transferred'),
               coalesce(sum(w.amount_yuan) filter (where w.outcome = 'transferred'), 0),
               percentile_cont(0.5) within group (order by w.minutes) filter (where w.met_at is not null)
        from regions r left join w on w.key = left(r.code, :length)
        where r.level = :level and r.code like :like
        group by r.code, r.name order by r.code
    """), {"like": prefix + "%", "length": length, "level": level, "start": start, "end": end}).all()


def task_forces_select(prefix: str | None, level: str | None):
    """Task forces under a code prefix (scoped like every model), by level, ordered by region code."""
    statement = select(TaskForce).order_by(TaskForce.region_code)
    if prefix:
        statement = statement.where(TaskForce.region_code.startswith(prefix, autoescape=True))
    if level:
        statement = statement.where(TaskForce.level == level)
    return statement


# The region whose task force holds a warning (alias ``w``) at its escalation level: the township, the
# county-level unit running it (a management zone for the townships it runs, else the statistical county),
# the city.  One expression, used by the warning's detail and by the notifications of an escalation.
ESCALATED_REGION = """case w.escalation_level
    when 1 then left(w.village_code, 9) || '000'
    when 2 then coalesce((select t.managed_by from regions t where t.code = left(w.village_code, 9) || '000'),
                         left(w.village_code, 6) || '000000')
    else left(w.village_code, 4) || '00000000' end"""


def escalated_task_force(warning_id: int) -> TaskForce | None:
    """The task force an escalated warning sits with (whatever the caller's scope: the warning's detail names
    it); None while a member holds it."""
    return db.session.scalar(select(TaskForce).from_statement(text(f"""
        select f.* from warnings w join task_forces f on f.region_code = {ESCALATED_REGION}
        where w.id = :id and w.escalation_level >= 1
    """).bindparams(id=warning_id)).execution_options(unscoped=True))


def task_force(force_id: int) -> TaskForce | None:
    """One task force in the caller's scope."""
    return db.session.get(TaskForce, force_id)


def task_force_person(force_id: int, person_id: int) -> TaskForcePerson | None:
    """One person of a task force."""
    return db.session.scalar(select(TaskForcePerson).where(TaskForcePerson.id == person_id,
                                                           TaskForcePerson.task_force_id == force_id))


def member_county(member_id: int) -> str:
    """The county code of a member (the key of the visits they store)."""
    return db.session.execute(text("select county_code from members where id = :m"), {"m": member_id}).scalar()


def household_point(household_id: int) -> tuple[float, float]:
    """(lon, lat) of a household, WGS84."""
    return tuple(db.session.execute(text("select ST_X(location), ST_Y(location) from households where id = :h"),
                                    {"h": household_id}).one())

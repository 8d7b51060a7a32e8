"""Assignment selects, optimiser inputs and the set-based plan application."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, func, select, text

from core.extensions import db
from core.scope import UNSCOPED
from grids.assignments.models import Assignment


def assignments_select(grid_code: str | None = None, member_id: int | None = None,
                       history: bool = False) -> Select:
    """Assignments of a cell or a member; current ones only unless ``history``."""
    statement = select(Assignment).order_by(Assignment.valid_from.desc(), Assignment.id.desc())
    if grid_code:
        statement = statement.where(Assignment.grid_code == grid_code)
    if member_id is not None:
        statement = statement.where(Assignment.member_id == member_id)
    if not history:
        statement = statement.where(Assignment.valid_to.is_(None))
    return statement


def assignment_by_id(assignment_id: int) -> Assignment | None:
    """One assignment in scope, or None."""
    return db.session.scalar(select(Assignment).where(Assignment.id == assignment_id))


def current_chief(grid_code: str) -> Assignment | None:
    """The cell's current chief assignment (unscoped: rules need it whoever asks)."""
    return db.session.scalar(select(Assignment).where(
        Assignment.grid_code == grid_code, Assignment.role == "chief", Assignment.valid_to.is_(None))
        .execution_options(**UNSCOPED))


def current_chief_count(member_id: int) -> int:
    """How many cells the member currently leads, anywhere."""
    return db.session.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.member_id == member_id, Assignment.role == "chief", Assignment.valid_to.is_(None))
        .execution_options(**UNSCOPED))


def current_assignment_count(member_id: int) -> int:
    """How many current assignments the member has, any role, anywhere."""
    return db.session.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.member_id == member_id, Assignment.valid_to.is_(None)).execution_options(**UNSCOPED))


def current_members_of_cells(grid_codes: list[str]) -> list[tuple]:
    """(grid code, member id, member name, role) of the current assignments of cells."""
    return db.session.execute(text("""
        select a.grid_code, m.id, m.name, a.role from assignments a join members m on m.id = a.member_id
        where a.grid_code = any(:codes) and a.valid_to is null
        order by a.grid_code, case a.role when 'chief' then 0 when 'worker' then 1 else 2 end, m.id
    """), {"codes": grid_codes}).all()


def plan_cells(prefix: str) -> list[tuple]:
    """(code, tier, village, lon, lat) of every cell under a region prefix, with a point inside it."""
    return db.session.execute(text("""
        select code, tier, village_code, ST_X(p), ST_Y(p)
        from (select code, tier, village_code, ST_PointOnSurface(boundary) as p from grids
              where village_code like :like) c
        order by code
    """), {"like": prefix + "%"}).all()


def plan_members(counties: list[str], prefix: str) -> list[tuple]:
    """(id, kind, village, lon, lat, chiefs held outside the region, other current assignments) of the
    active members of counties; the region's own chiefs are what the plan re-decides.

    A member without a home point stands at a point of their village.
    """
    return db.session.execute(text("""
        select id, kind, village_code, ST_X(home_point), ST_Y(home_point), chiefs_outside, others from (
        select m.id, m.kind, m.village_code, coalesce(m.home, ST_PointOnSurface(r.boundary)) as home_point,
               coalesce(o.chiefs_outside, 0) as chiefs_outside, coalesce(o.others, 0) as others
        from members m
        join regions r on r.code = m.village_code
        left join (
            select member_id,
                   count(*) filter (where role = 'chief' and village_code not like :like) as chiefs_outside,
                   count(*) filter (where not (role = 'chief' and village_code like :like)) as others
            from assignments where valid_to is null
            group by member_id
        ) o on o.member_id = m.id
        where m.active and m.county_code = any(:counties)
        ) candidates order by id
    """), {"counties": counties, "like": prefix + "%"}).all()


def planned_member_loads(plan_id: int, prefix: str) -> list[tuple]:
    """(kind, chiefs the plan gives, chiefs held outside the region, other current assignments) per
    member the plan makes chief, as things stand now."""
    return db.session.execute(text("""
        select m.kind, p.planned, coalesce(o.chiefs_outside, 0), coalesce(o.others, 0)
        from (select member_id, count(*) as planned from assignment_plan_items
              where plan_id = :plan and member_id is not null group by member_id) p
        join members m on m.id = p.member_id
        left join (
            select member_id,
                   count(*) filter (where role = 'chief' and village_code not like :like) as chiefs_outside,
                   count(*) filter (where not (role = 'chief' and village_code like :like)) as others
            from assignments where valid_to is null group by member_id
        ) o on o.member_id = p.member_id
    """), {"plan": plan_id, "like": prefix + "%"}).all()


def inactive_planned_members(plan_id: int) -> int:
    """How many members a plan would make chief are no longer active."""
    return db.session.execute(text("""
        select count(*) from assignment_plan_items i join members m on m.id = i.member_id
        where i.plan_id = :plan and i.is_change and not m.active
    """), {"plan": plan_id}).scalar()


def current_chiefs(prefix: str) -> dict[str, int]:
    """Current chief member per cell under a prefix."""
    rows = db.session.execute(text("""
        select grid_code, member_id from assignments
        where role = 'chief' and valid_to is null and village_code like :like
    """), {"like": prefix + "%"})
    return dict(rows.all())


def chiefs_fingerprint(prefix: str) -> str:
    """A digest of the current chiefs under a prefix: changes when any of them changes."""
    return db.session.execute(text("""
        select md5(coalesce(string_agg(grid_code || ':' || member_id, ',' order by grid_code), ''))
        from assignments where role = 'chief' and valid_to is null and village_code like :like
    """), {"like": prefix + "%"}).scalar()


def store_plan_items(plan_id: int, rows: list[tuple]) -> None:
    """COPY the plan's items (grid code, member id, distance, is change)."""
    cursor = db.session.connection().connection.driver_connection.cursor()
    with cursor.copy("copy assignment_plan_items (plan_id, grid_code, member_id, distance_m, is_change) "
                     "from stdin") as copy:
        for grid_code, member_id, distance_m, is_change in rows:
            copy.write_row((plan_id, grid_code, member_id, distance_m, is_change))


Change = tuple[int, int, str]  # (assignment id, member id, grid code)


def apply_plan(plan_id: int, actor: str | None, valid_from: datetime | None = None) -> tuple[list[Change],
                                                                                              list[Change]]:
    """End the chiefs a plan replaces and start the new ones, set-wise; the assignments that began and
    those that ended.

    ``valid_from`` backdates the change (the seeder's history); default now.
    """
    moment = {"at": valid_from}
    ended = db.session.execute(text("""
        update assignments a set valid_to = coalesce(cast(:at as timestamptz), now()), ended_by = :actor
        from assignment_plan_items i
        where i.plan_id = :plan and i.is_change and a.grid_code = i.grid_code
          and a.role = 'chief' and a.valid_to is null
        returning a.id, a.member_id, a.grid_code
    """), {"plan": plan_id, "actor": actor, **moment}).all()
    # A member the plan makes chief of a cell where they already work is promoted.
    ended += db.session.execute(text("""
        update assignments a set valid_to = coalesce(cast(:at as timestamptz), now()), ended_by = :actor
        from assignment_plan_items i
        where i.plan_id = :plan and i.is_change and a.grid_code = i.grid_code
          and a.member_id = i.member_id and a.valid_to is null
        returning a.id, a.member_id, a.grid_code
    """), {"plan": plan_id, "actor": actor, **moment}).all()
    made = db.session.execute(text("""
        insert into assignments (county_code, member_id, grid_code, village_code, role, source, plan_id, created_by,
                                 valid_from)
        select left(i.grid_code, 6), i.member_id, i.grid_code, left(i.grid_code, 12), 'chief', 'plan', i.plan_id,
               :actor, coalesce(cast(:at as timestamptz), now())
        from assignment_plan_items i
        where i.plan_id = :plan and i.is_change and i.member_id is not null
        order by i.grid_code
        returning id, member_id, grid_code
    """), {"plan": plan_id, "actor": actor, **moment}).all()
    db.session.execute(text("""
        insert into audit_log (actor, action, object_type, object_id, region_code, details)
        select :actor, 'assignment.plan', 'grid', i.grid_code, left(i.grid_code, 12),
               jsonb_build_object('plan_id', i.plan_id, 'member_id', i.member_id, 'role', 'chief')
        from assignment_plan_items i where i.plan_id = :plan and i.is_change and i.member_id is not null
    """), {"plan": plan_id, "actor": actor})
    return [tuple(row) for row in made], [tuple(row) for row in ended]

"""Writing notifications into the outbox, inside the transaction of what causes them.

Nothing here commits: the caller's commit makes the notification, its delivery rows and the
wake-up of the worker (``pg_notify``, itself transactional) visible together, and a rollback
takes all of them back, so no message is ever sent for a change that did not happen.
One notification per recipient per cause (a unique index; a repeat is ignored).
"""
from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import text

from core.clock import LOCAL
from core.extensions import db

OUTBOX_CHANNEL = "grids_outbox"
# Text messages cost money and interrupt: only for fund warnings, where minutes matter.
SMS_KINDS = ["warning_assigned", "warning_escalated", "warning_reassigned"]
TASK_FORCE_ROLE = "case w.escalation_level when 1 then 'township_supervisor' when 2 then 'county_admin' " \
                  "else 'city_admin' end"
TASK_FORCE_SCOPE = "case w.escalation_level when 1 then left(w.village_code, 9) || '000' " \
                   "when 2 then left(w.village_code, 6) || '000000' else left(w.village_code, 4) || '00000000' end"
WARNING_PARAMS = """jsonb_build_object('warning_id', w.id, 'level', w.level, 'grid_code', w.grid_code,
                       'village_code', w.village_code, 'village', r.name, 'deadline', w.deadline,
                       'escalated_to', (array['member', 'township', 'county', 'city'])[w.escalation_level + 1])"""


def quiet_until(now: datetime) -> datetime | None:
    """The end of the quiet hours when ``now`` is inside them (local time), else None."""
    window = current_app.config["GRIDS_QUIET_HOURS"]
    if not window:
        return None
    start, end = (time.fromisoformat(part) for part in window.split("-"))
    local = now.astimezone(LOCAL)
    clock = local.time()
    inside = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, LOCAL)


def write(recipients: str, params: dict[str, Any]) -> int:
    """Insert the notifications ``recipients`` (a SELECT of user_id, member_id, kind, cause, object_type,
    object_id, params, urgent) selects, their delivery rows per channel, and wake the worker: one
    statement, whatever the count.  How many deliveries were written."""
    return db.session.execute(text(f"""
        with recipients as ({recipients}),
        inserted as (
            insert into notifications (user_id, member_id, kind, cause, object_type, object_id, params, urgent)
            select user_id, member_id, kind, cause, object_type, object_id, params, urgent from recipients
            on conflict do nothing
            returning id, user_id, member_id, kind, cause, urgent
        ), texted as (
            -- One text per person and cause: to the account's own phone, else to its member's, and a member
            -- with several accounts gets one text (on their first account's notification).
            select i.id from inserted i
            where i.kind = any(cast(:sms_kinds as text[]))
              and (exists (select from users u where u.id = i.user_id and u.phone_encrypted is not null)
                   or (exists (select from members m where m.id = i.member_id and m.phone_encrypted is not null)
                       and not exists (select from inserted j where j.member_id = i.member_id
                                       and j.cause = i.cause and j.user_id < i.user_id
                                       and not exists (select from users u where u.id = j.user_id
                                                       and u.phone_encrypted is not null))))
        ), delivered as (
            insert into notification_deliveries (notification_id, channel, not_before)
            select i.id, c.channel,
                   case when i.urgent or c.channel = 'in_app' then now()
                        else coalesce(cast(:quiet_until as timestamptz), now()) end
            from inserted i cross join (values ('in_app'), ('push'), ('sms')) as c(channel)
            where (c.channel = 'in_app' and i.user_id is not null)
               or (c.channel = 'push' and i.user_id is not null
                   and exists (select from push_subscriptions s where s.user_id = i.user_id))
               or (c.channel = 'sms' and i.id in (select id from texted))
            returning 1
        )
        select (select count(*) from delivered),
               (select pg_notify('{OUTBOX_CHANNEL}', '') where exists (select from delivered))
    """), {**params, "quiet_until": quiet_until(datetime.now(UTC)), "sms_kinds": SMS_KINDS}).scalar_one()


def warnings_assigned(warning_ids: list[int], kind: str = "warning_assigned") -> int:
    """Tell each warning's assigned member (every active account of theirs, or by text alone when they
    have none) that the warning is theirs."""
    return write(f"""
        select u.id as user_id, w.assigned_member_id as member_id, cast(:kind as text) as kind,
               'warning:' || w.id || ':assigned:' || w.assigned_member_id as cause,
               'warning' as object_type, w.id::text as object_id, {WARNING_PARAMS} as params,
               w.level = 'urgent' as urgent
        from warnings w join regions r on r.code = w.village_code
        left join users u on u.member_id = w.assigned_member_id and u.active
        where w.id = any(cast(:ids as bigint[])) and w.assigned_member_id is not null
    """, {"ids": warning_ids, "kind": kind})


def warnings_escalated(warning_ids: list[int]) -> int:
    """Tell the task force of each warning's current level (the township supervisors, county or city
    administrators scoped exactly to the warning's township, county or city) that it is now theirs."""
    return write(f"""
        select u.id as user_id, u.member_id, 'warning_escalated' as kind,
               'warning:' || w.id || ':escalated:' || w.escalation_level as cause,
               'warning' as object_type, w.id::text as object_id, {WARNING_PARAMS} as params,
               w.level in ('urgent', 'high') as urgent
        from warnings w join regions r on r.code = w.village_code
        join users u on u.active and u.role = {TASK_FORCE_ROLE} and u.scope = {TASK_FORCE_SCOPE}
        where w.id = any(cast(:ids as bigint[])) and w.escalation_level >= 1
    """, {"ids": warning_ids})


def to_users(user_ids: list[int], kind: str, cause: str, object_type: str, object_id: str,
             params: dict[str, Any], urgent: bool = False) -> int:
    """One notification of ``kind`` about one cause to each of these (active) accounts."""
    return write("""
        select u.id as user_id, u.member_id, cast(:kind as text) as kind, cast(:cause as text) as cause,
               cast(:object_type as text) as object_type, cast(:object_id as text) as object_id,
               cast(:params as jsonb) as params, cast(:urgent as boolean) as urgent
        from users u where u.id = any(cast(:user_ids as int[])) and u.active
    """, {"user_ids": list(user_ids), "kind": kind, "cause": cause, "object_type": object_type,
          "object_id": str(object_id), "params": _json(params), "urgent": urgent})


def assignments_changed(assignment_ids: list[int], change: str) -> int:
    """Tell each assignment's member (every active account of theirs) that it began (``made``) or ended, one
    statement for one assignment or a whole applied plan."""
    return write("""
        select u.id as user_id, a.member_id, 'assignment_changed' as kind,
               'assignment:' || a.id || ':' || cast(:change as text) as cause,
               'assignment' as object_type, a.id::text as object_id,
               jsonb_build_object('assignment_id', a.id, 'grid_code', a.grid_code, 'role', a.role,
                                  'change', cast(:change as text)) as params,
               false as urgent
        from assignments a join users u on u.member_id = a.member_id and u.active
        where a.id = any(cast(:ids as bigint[]))
    """, {"ids": list(assignment_ids), "change": change})


def _json(params: dict[str, Any]) -> str:
    return json.dumps(params, ensure_ascii=False, default=str)


def certification_decided(certification_id: int, status: str, level: str) -> int:
    """Tell the applicant and the village's administrators a decision; after the township's approval the
    county's reviewers too (they decide next)."""
    return write("""
        select distinct u.id as user_id, u.member_id, 'certification_decided' as kind,
               'certification:' || c.id || ':' || cast(:level as text) || ':' || cast(:status as text) as cause,
               'certification' as object_type, c.id::text as object_id,
               jsonb_build_object('certification_id', c.id, 'village_code', c.village_code, 'village', r.name,
                                  'status', cast(:status as text), 'level', cast(:level as text)) as params,
               false as urgent
        from certifications c join regions r on r.code = c.village_code
        join users u on u.active and (u.username = c.applied_by
                                      or (u.role = 'village_admin' and u.scope = c.village_code)
                                      or (cast(:status as text) = 'township_approved' and u.role = 'reviewer'
                                          and u.scope = left(c.village_code, 6) || '000000'))
        where c.id = :id
    """, {"id": certification_id, "status": status, "level": level})

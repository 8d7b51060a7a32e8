"""What a notification says: a title and body in the reader's language, and the text-message templates.

Only what the recipient needs to act is said: the warning's number, level, village and cell and the
deadline; never the resident's name or phone number (the app shows those after signing in).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import force_locale, gettext

from core.clock import LOCAL

# Registered with the SMS gateway as fixed templates (gateways in China only send approved text),
# so they are Chinese whatever the account's language.
SMS_SIGNATURE = "【反诈网格】"
SMS_TEMPLATES = {
    "warning_assigned": "{level}资金预警{warning_id}：您包联的{village}{grid_code}网格有居民可能正在被骗，"
                        "请于{deadline}前确认并上门劝阻。",
    "warning_reassigned": "{level}资金预警{warning_id}已改派给您：{village}{grid_code}网格，"
                          "请于{deadline}前上门劝阻。",
    "warning_escalated": "{level}资金预警{warning_id}（{village}{grid_code}网格）逾期未处置，"
                         "已升级至{escalated_to}专班，请于{deadline}前组织上门劝阻。",
}
LEVELS_ZH = {"urgent": "紧急", "high": "高级", "medium": "中级", "low": "低级"}
TIERS_ZH = {"township": "乡镇", "county": "县区", "city": "市级", "member": "网格"}


def _clock(value: Any) -> str:
    """A deadline as local wall-clock time (MM-DD HH:MM)."""
    if not value:
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(LOCAL).strftime("%m-%d %H:%M")


def sms_text(kind: str, params: dict[str, Any]) -> str:
    """The Chinese text message for a notification (kinds in SMS_TEMPLATES only)."""
    values = {**params, "level": LEVELS_ZH.get(params.get("level"), ""), "deadline": _clock(params.get("deadline")),
              "escalated_to": TIERS_ZH.get(params.get("escalated_to"), ""), "village": params.get("village") or ""}
    return SMS_SIGNATURE + SMS_TEMPLATES[kind].format(**values)


def _level(level: str | None) -> str:
    return {"urgent": gettext("Urgent"), "high": gettext("High"), "medium": gettext("Medium"),
            "low": gettext("Low")}.get(level or "", "")


def _tier(tier: str | None) -> str:
    return {"township": gettext("township"), "county": gettext("county"), "city": gettext("city"),
            "member": gettext("member")}.get(tier or "", "")


def _role(role: str | None) -> str:
    return {"chief": gettext("chief"), "worker": gettext("worker"), "liaison": gettext("liaison")}.get(role or "", "")


def _status(status: str | None) -> str:
    return {"township_approved": gettext("approved by the township"), "certified": gettext("certified"),
            "rejected": gettext("rejected")}.get(status or "", status or "")


def _render(kind: str, p: dict[str, Any]) -> tuple[str, str]:
    deadline = _clock(p.get("deadline"))
    place = f"{p.get('village') or ''} {p.get('grid_code') or ''}".strip()
    if kind in ("warning_assigned", "warning_reassigned"):
        title = gettext("%(level)s fund warning %(id)s", level=_level(p.get("level")), id=p.get("warning_id"))
        body = gettext("A resident in %(place)s is probably being defrauded: acknowledge and meet them before "
                       "%(deadline)s.", place=place, deadline=deadline)
        return title, body
    if kind == "warning_escalated":
        title = gettext("Fund warning %(id)s escalated to the %(tier)s task force", id=p.get("warning_id"),
                        tier=_tier(p.get("escalated_to")))
        body = gettext("%(place)s: the deadline passed without a meeting; have the resident met before "
                       "%(deadline)s.", place=place, deadline=deadline)
        return title, body
    if kind == "assignment_changed":
        if p.get("change") == "ended":
            title = gettext("Assignment ended")
            body = gettext("You are no longer %(role)s of cell %(grid)s.", role=_role(p.get("role")),
                           grid=p.get("grid_code"))
        else:
            title = gettext("New assignment")
            body = gettext("You are now %(role)s of cell %(grid)s.", role=_role(p.get("role")),
                           grid=p.get("grid_code"))
        return title, body
    if kind == "certification_decided":
        title = gettext("Fraud-free application decided")
        body = gettext("%(village)s: %(status)s.", village=p.get("village") or p.get("village_code"),
                       status=_status(p.get("status")))
        return title, body
    if kind == "certification_expiring":
        title = gettext("Fraud-free certification expiring")
        body = gettext("%(village)s: the certification is valid until %(day)s; apply again to keep it.",
                       village=p.get("village") or p.get("village_code"), day=p.get("valid_until"))
        return title, body
    if kind == "lagging_alert":
        title = gettext("Lagging cells")
        body = gettext("%(count)s cells in %(region)s had no household visited in the last %(days)s days: "
                       "%(cells)s.", count=p.get("count"), region=p.get("region") or p.get("region_code"),
                       days=p.get("days"), cells=", ".join(p.get("cells") or []))
        return title, body
    return kind, ""


def render(kind: str, params: dict[str, Any], locale: str | None = None) -> tuple[str, str]:
    """(title, body) in ``locale`` (zh_CN or en), or in the current request's language when None."""
    if locale is None:
        return _render(kind, params)
    with force_locale(locale):
        return _render(kind, params)

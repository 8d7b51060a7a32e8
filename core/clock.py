"""Local time of the deployment: reporting days are Asia/Shanghai dates."""
from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

LOCAL = ZoneInfo("Asia/Shanghai")
# The same local day of a ``visited_at`` column, in SQL.
LOCAL_DAY = "(visited_at at time zone 'Asia/Shanghai')::date"


def today() -> date:
    """Today's local date."""
    return datetime.now(LOCAL).date()

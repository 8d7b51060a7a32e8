"""Phone accounts for the load and crash scripts: chiefs of tier-3 cells, with their households."""
from __future__ import annotations

from sqlalchemy import text

from core.extensions import db
from grids.accounts.services import create_user, tokens_for


def chief_phones(count: int, username_prefix: str) -> list[dict]:
    """Up to ``count`` grid-worker accounts: {"token", "households": [[id, grid, lon, lat], ...]}."""
    rows = db.session.execute(text("""
        select distinct on (a.member_id) a.member_id, m.village_code from assignments a
        join members m on m.id = a.member_id join grids g on g.code = a.grid_code and g.tier = 3
        where a.role = 'chief' and a.valid_to is null and m.village_code = g.village_code
        order by a.member_id limit :n
    """), {"n": count}).all()
    phones = []
    for member_id, village in rows:
        user = create_user(None, {"username": f"{username_prefix}_{member_id}", "password": "load-password-1",
                                  "role": "grid_worker", "scope": village, "member_id": member_id})
        households = db.session.execute(text("""
            select h.id, h.grid_code, ST_X(h.location), ST_Y(h.location) from households h
            join assignments a on a.grid_code = h.grid_code and a.member_id = :m and a.valid_to is null
            where h.village_code = :v
        """), {"m": member_id, "v": village}).all()
        phones.append({"token": tokens_for(user, with_refresh=False)["access_token"],
                       "households": [list(h) for h in households]})
    return phones

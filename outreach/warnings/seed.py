"""The four-level warning task forces of the reference city (市、县、镇、村四级预警处置专班).

安康 reports 2,076 task forces with 8,430 people: one per region at each level (1 city,
12 county-level units, 139 townships, 1,924 villages with the 2023 codes: 2,076).  Their
size here adds up to the same people at full scale: 4 in a village (the secretary, a
cadre, a grid worker — embedded members when the village has them — and the community
police officer), 4 in a township, 12 in a county-level unit and 34 in the city.
"""
from __future__ import annotations

import numpy as np
from sqlalchemy import text

from core.extensions import db

ROLES = {
    "village": ("village_secretary", "village_cadre", "grid_worker", "police"),
    "township": ("township_cadre", "police", "bank", "telecom"),
    "county": ("official", "police", "police", "police", "bank", "bank", "telecom", "telecom", "court",
               "procuratorate", "finance", "official"),
    "city": ("official",) * 6 + ("police",) * 12 + ("bank",) * 6 + ("telecom",) * 4 + ("court", "procuratorate",
                                                                                       "finance", "media",
                                                                                       "education", "health"),
}
SUFFIX = "预警处置专班"
_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏")
_GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅建国志文斌海波鹏辉宁春燕晓东林峰")


def seed_task_forces(seed: int = 5) -> dict[str, int]:
    """Create one task force per region with its people (set-based); returns the counts."""
    rng = np.random.default_rng(seed)
    regions = db.session.execute(text("select code, level, name from regions order by code")).all()
    db.session.execute(text("""
        insert into task_forces (region_code, level, name)
        select code, level, name || :suffix from regions order by code
        on conflict (region_code) do nothing
    """), {"suffix": SUFFIX})
    forces = dict(db.session.execute(text("select region_code, id from task_forces")).all())
    # Embedded members who sit on their village's task force, by village and kind.
    members: dict[tuple[str, str], int] = {}
    for village, kind, member_id in db.session.execute(text("""
            select distinct on (village_code, kind) village_code, kind, id from members
            where kind in ('village_secretary', 'village_cadre', 'grid_worker') order by village_code, kind, id
    """)):
        members[(village, kind)] = member_id
    names = {member_id: name for member_id, name in db.session.execute(text(
        "select id, name from members where id = any(:ids)"), {"ids": list(members.values())})}
    people = []
    for code, level, _ in regions:
        for role in ROLES[level]:
            member_id = members.get((code, role)) if level == "village" else None
            name = names[member_id] if member_id else (_SURNAMES[int(rng.integers(len(_SURNAMES)))]
                                                       + "".join(_GIVEN[int(i)] for i in rng.integers(
                                                           len(_GIVEN), size=int(rng.integers(1, 3)))))
            people.append((forces[code], name, role, member_id))
    cursor = db.session.connection().connection.driver_connection.cursor()
    with cursor.copy("copy task_force_people (task_force_id, name, role, member_id) from stdin") as copy:
        for row in people:
            copy.write_row(row)
    db.session.commit()
    return {"task_forces": len(forces), "people": len(people)}

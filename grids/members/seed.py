"""Synthetic members for the reference data set: 56,000 at scale 1.0.

Per village a secretary and three cadres, per township fifteen township cadres, the
rest party members (80 %) and full-time grid workers (20 %) spread like the
households.  Home points are household points jittered by ~50 m.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely

from core.personal_data import protect_phone
from grids.members import queries

FULL_MEMBERS = 56_000
CADRES_PER_VILLAGE = 3
CADRES_PER_TOWNSHIP = 15
_SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩"
                 "冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢")
_GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红梅建国志文斌海波鹏辉宁春燕晓东林峰")


def member_count(scale: float) -> int:
    """Members at ``scale``."""
    return round(FULL_MEMBERS * scale)


def _names(rng: np.random.Generator, count: int) -> list[str]:
    surnames = rng.integers(len(_SURNAMES), size=count)
    first = rng.integers(len(_GIVEN), size=count)
    second = rng.integers(len(_GIVEN) + 12, size=count)  # some names have one given character
    return [_SURNAMES[s] + _GIVEN[a] + (_GIVEN[b] if b < len(_GIVEN) else "")
            for s, a, b in zip(surnames, first, second, strict=True)]


def _phones(rng: np.random.Generator, count: int) -> list[str]:
    second = rng.choice(list("35789"), size=count)
    rest = rng.integers(0, 10**9, size=count)
    return [f"1{s}{r:09d}" for s, r in zip(second, rest, strict=True)]


def seed_members(scale: float, seed: int, step: Callable[[str, int], None] = lambda *_: None) -> int:
    """Create the members from the stored villages and households; returns how many."""
    rng = np.random.default_rng(seed + 2)
    total = member_count(scale)
    # One household point per village and a sample of all households, as home anchors.
    village_anchor = queries.village_anchor_points()
    villages = sorted(village_anchor)
    townships = sorted({v[:9] for v in villages})
    people: list[tuple[str, str, float, float]] = []  # kind, village, lon, lat
    for village in villages:
        x, y = village_anchor[village]
        people.append(("village_secretary", village, x, y))
        people.extend(("village_cadre", village, x, y) for _ in range(CADRES_PER_VILLAGE))
    for township in townships:
        members_villages = [v for v in villages if v.startswith(township)]
        for index in range(CADRES_PER_TOWNSHIP):
            village = members_villages[index % len(members_villages)]
            x, y = village_anchor[village]
            people.append(("township_cadre", village, x, y))
    remaining = max(0, total - len(people))
    if remaining:
        household_total = queries.max_household_id()
        picks = np.sort(rng.choice(np.arange(1, household_total + 1), size=remaining,
                                   replace=remaining > household_total))
        sample = queries.household_points(picks.tolist())
        by_id = {int(i): row for i, row in zip(np.unique(picks), sample, strict=False)}
        kinds = rng.random(remaining) < 0.8
        for pick, party_member in zip(picks, kinds, strict=True):
            village, x, y = by_id[int(pick)]
            people.append(("party_member" if party_member else "grid_worker", village, x, y))
    count = len(people)
    jitter = rng.normal(0, 0.0005, size=(count, 2))  # ~50 m
    names, phones = _names(rng, count), _phones(rng, count)
    homes = shapely.to_wkb(shapely.set_srid(shapely.points(
        np.array([[p[2], p[3]] for p in people]) + jitter), 4326), hex=True, include_srid=True)

    def rows():
        for index, (kind, village, _, _) in enumerate(people):
            phone = protect_phone(phones[index])
            yield (village[:6], village, names[index], kind, phone["phone_encrypted"], phone["phone_hash"],
                   phone["phone_masked"], homes[index])
            if index % 1000 == 999:
                step("members", 1000)

    queries.copy_members(rows())
    step("members", count % 1000)
    return count

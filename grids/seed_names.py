"""Deterministic synthetic Chinese place names for the reference data set.

The county-level units are real (names and statistical codes of Ankang); everything
below them is invented, built from syllables common in southern Shaanxi place names.
"""
from __future__ import annotations

import numpy as np

# Approximate seats (lon, lat) place the synthetic county polygons roughly where the
# real ones are; township counts at scale 1.0 add up to 138.
COUNTIES: list[tuple[str, str, int, tuple[float, float]]] = [
    ("610902", "汉滨区", 24, (109.12, 32.62)),
    ("610921", "汉阴县", 10, (108.51, 32.89)),
    ("610922", "石泉县", 11, (108.25, 33.04)),
    ("610923", "宁陕县", 11, (108.31, 33.45)),
    ("610924", "紫阳县", 17, (108.53, 32.52)),
    ("610925", "岚皋县", 12, (108.90, 32.31)),
    ("610926", "平利县", 11, (109.36, 32.39)),
    ("610927", "镇坪县", 7, (109.53, 31.88)),
    ("610929", "白河县", 11, (110.00, 32.81)),
    ("610981", "旬阳市", 19, (109.45, 32.95)),
    ("610971", "安康高新技术产业开发区", 2, (108.93, 32.64)),
    ("610972", "恒口示范区", 3, (108.78, 32.78)),
]
CITY_NAME = "安康市"
# Districts, the county-level city and the zones have streets (街道) as well as towns.
URBAN_COUNTIES = {"610902", "610981", "610971", "610972"}

_FIRST = list("东西南北大小上下中前后新老高低长石竹茶桥河沟坪坝梁岭湾岔关溪泉松柏桃柳杨黄红青白金龙凤双三五七")
_SECOND = list("坪坝河沟湾岭梁岔口关溪垭塘池川庙坡台寨堡园山林田营店铺滩场湖峰垣崖")
_VILLAGE_FIRST = _FIRST + list("田丰和兴安平永乐福寿康宁泰庆隆盛团结胜利光明")
_VILLAGE_SECOND = _SECOND + list("村院铺庄营家")


def _pairs(first: list[str], second: list[str]) -> list[str]:
    return [a + b for a in first for b in second if a != b]


class NameMaker:
    """Draws unique two-syllable names; deterministic for a given generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.township_pool = _pairs(_FIRST, _SECOND)
        self.village_pool = _pairs(_VILLAGE_FIRST, _VILLAGE_SECOND)
        self.used_townships: set[str] = set()

    def township(self, urban: bool, index: int) -> str:
        """A township name unique in the city; the first ones of urban units are streets."""
        while True:
            stem = self.township_pool[int(self.rng.integers(len(self.township_pool)))]
            if stem not in self.used_townships:
                self.used_townships.add(stem)
                return stem + ("街道" if urban and index < 3 else "镇")

    def villages(self, count: int, community_share: float) -> list[str]:
        """``count`` village or community names, unique within one township."""
        picks = self.rng.choice(len(self.village_pool), size=count, replace=False)
        communities = self.rng.random(count) < community_share
        return [self.village_pool[p] + ("社区" if c else "村") for p, c in zip(picks, communities, strict=True)]

"""The territory's hierarchy, written once: region levels in order, each level's child and code length.

Region codes are 12 digits (``6109`` city, ``610902`` county, ``610902001``
township, ``610902001001`` village, zero-padded); tier-1/2/3 grid codes extend the
village code (``610902001001-01-02``).  Everything inside a region or cell has a
code starting with its prefix, which is how reports group (``left(code, n)``) and
how scope filters (``LIKE 'prefix%'``).  Reports may group down to tier-3 cells,
the ``grid`` level below villages.
"""
from __future__ import annotations

REGION_LEVELS = ("city", "county", "township", "village")
# Levels a report can group by, top down: the regions, then tier-3 cells.
LEVELS = (*REGION_LEVELS, "grid")
CHILD_LEVEL = {"city": "county", "county": "township", "township": "village", "village": "grid"}
# Significant code length of each level: what ``left(code, n)`` keeps to group by it.
PREFIX_LENGTH = {"city": 4, "county": 6, "township": 9, "village": 12, "grid": 18}
LEVEL_OF_LENGTH = {length: level for level, length in PREFIX_LENGTH.items()}


def code_prefix(code: str) -> str:
    """The significant prefix of a 12-digit region code, read off its zero padding.

    ``610900000000`` → ``6109`` (city), ``610902000000`` → ``610902`` (county),
    ``610902001000`` → ``610902001`` (township), a village code → itself.  Everything
    inside a region has a code starting with this prefix.
    """
    for length in (2, 4, 6, 9):
        if code[length:].strip("0") == "":
            return code[:length]
    return code


def level_of_code(code: str) -> str | None:
    """The level of the region a code (or a scope) names, from its significant prefix."""
    return LEVEL_OF_LENGTH.get(len(code_prefix(code)))


def is_below(level: str, other: str) -> bool:
    """Whether ``level`` lies strictly below ``other`` in the hierarchy."""
    return LEVELS.index(level) > LEVELS.index(other)


def child_region_level(level: str) -> str | None:
    """The region level directly below ``level``; None for a village (its children are cells)."""
    child = CHILD_LEVEL.get(level)
    return child if child in REGION_LEVELS else None


def parent_cell_code(code: str, tier: int) -> str | None:
    """The code of the cell one tier up (None for a tier-1 cell, which is its village)."""
    if tier == 1:
        return None
    if tier == 2:
        return code[:PREFIX_LENGTH["village"]] + "-00-00"
    return code[:15] + "-00"


def tier3_prefix(code: str) -> str:
    """The code prefix of the tier-3 cells inside a cell of any tier."""
    if code.endswith("-00-00"):
        return code[:PREFIX_LENGTH["village"]]
    if code.endswith("-00"):
        return code[:15]
    return code

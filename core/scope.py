"""Territorial scope: one mechanism that filters every ORM query by region-code prefix.

A caller's scope is a region; everything inside it shares the region's code prefix
(``6109`` the city, ``610902`` a county, ...).  Models that live somewhere in the
territory mix in :class:`Scoped` and name the column holding their region code.
While a scope is set on the session, every ORM SELECT of such a model gets
``column LIKE 'prefix%'`` added (SQLAlchemy's ``with_loader_criteria``), so lists,
lookups by id, exports and reports cannot see outside it: an out-of-scope object is
simply not found (404).  Raw SQL must call :func:`scope_prefix` itself.
"""
from __future__ import annotations

from functools import cache

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from core.extensions import Base

SCOPE_KEY = "scope_prefix"
# Execution options of a statement that rules need to see whole (capacities, one chief per cell).
UNSCOPED = {"unscoped": True}


class Scoped:
    """Mixin of models filtered by scope; ``__scope_column__`` names the region-code column."""

    __scope_column__ = "village_code"


def set_scope(session: Session, prefix: str | None) -> None:
    """Restrict ``session`` to objects whose region code starts with ``prefix`` (None lifts it)."""
    if prefix:
        session.info[SCOPE_KEY] = prefix
    else:
        session.info.pop(SCOPE_KEY, None)


def scope_prefix(session: Session) -> str | None:
    """The prefix the session is restricted to, if any."""
    return session.info.get(SCOPE_KEY)


def in_scope(session: Session, region_code: str | None) -> bool:
    """Whether a region code lies inside the session's scope."""
    prefix = scope_prefix(session)
    return prefix is None or (region_code is not None and region_code.startswith(prefix))


@cache
def _scoped_classes() -> tuple[type, ...]:
    """The mapped classes that mix in Scoped (all are imported before the first query)."""
    return tuple(mapper.class_ for mapper in Base.registry.mappers if issubclass(mapper.class_, Scoped))


def _criteria(prefix: str) -> list:
    # One plain criterion per mapped class (a lambda over the mixin cannot name the
    # per-class column); aliases of the classes are covered too.
    return [
        with_loader_criteria(cls, getattr(cls, cls.__scope_column__).startswith(prefix), include_aliases=True)
        for cls in _scoped_classes()
    ]


def install_scope_filter() -> None:
    """Register the filter on every ORM session (idempotent; called by ``create_app``)."""
    if not event.contains(Session, "do_orm_execute", _restrict_to_scope):
        event.listen(Session, "do_orm_execute", _restrict_to_scope)


def _restrict_to_scope(state: ORMExecuteState) -> None:
    prefix = state.session.info.get(SCOPE_KEY)
    if prefix and state.is_select and not state.is_column_load and not state.is_relationship_load \
            and not state.execution_options.get("unscoped"):
        state.statement = state.statement.options(*_criteria(prefix))

"""Roles, what each may do, and the decorator that enforces it on a view."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask_babel import lazy_gettext as _l
from flask_jwt_extended import current_user

from core.errors import Forbidden

ROLES = ("city_admin", "county_admin", "township_supervisor", "village_admin", "grid_worker", "police",
         "reviewer")
# A user may only create users with a lower rank, inside their own scope.
RANK = {"city_admin": 50, "county_admin": 40, "township_supervisor": 30, "village_admin": 20,
        "reviewer": 20, "police": 20, "grid_worker": 10}
# Reviewers check the administrations' work and police accounts belong to the public security
# bureau: neither may be created or managed by the administrations they oversee, only by the
# city administrator (or the command line).
INDEPENDENT_ROLES = ("reviewer", "police")
INDEPENDENT_ROLES_MANAGED_BY = "city_admin"
ADMINS = ("city_admin", "county_admin", "township_supervisor", "village_admin")
SUPERVISORS = ADMINS[:3]
# The region levels a user of each role may be scoped to.
ROLE_LEVELS = {
    "city_admin": ("city",), "county_admin": ("county",), "township_supervisor": ("township",),
    "village_admin": ("village",), "grid_worker": ("village",),
    "police": ("city", "county", "township"), "reviewer": ("township", "county"),
}
ALL_ROLES = ROLES


def roles_allowed(*roles: str) -> Callable:
    """Let only users of ``roles`` call the view (403 otherwise).

    The allowed roles are kept on the view as ``_allowed_roles`` so the role × scope
    test matrix can read them from the URL map.
    """
    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if current_user.role not in roles:
                raise Forbidden(_l("Your role may not do this."))
            return view(*args, **kwargs)

        wrapper._allowed_roles = tuple(roles)
        return wrapper

    return decorator

"""Vector tiles for the map: scoped, coverage of the last 30 days, cacheable."""
from __future__ import annotations

import hashlib
from datetime import timedelta

from flask_babel import lazy_gettext as _l

from core.clock import today
from core.errors import NotFound
from core.extensions import db
from core.scope import scope_prefix
from outreach.tiles import queries

LAYERS = {"villages": queries.villages_tile, "grids": queries.grids_tile}
GRIDS_MIN_ZOOM = 10  # below this, cells are too small to draw: the layer is empty


def tile(layer: str, z: int, x: int, y: int, user) -> tuple[bytes, str]:
    """The tile's bytes and its ETag, as ``user`` may see it (the session's scope; a grid worker: own cells)."""
    if layer not in LAYERS:
        raise NotFound(_l("Unknown layer %(layer)s.", layer=layer))
    if not (0 <= z <= 22 and 0 <= x < 2 ** z and 0 <= y < 2 ** z):
        raise NotFound(_l("No such tile."))
    like, cell_likes = (scope_prefix(db.session) or "") + "%", None
    if user.role == "grid_worker":
        # A member's map shows the member's own cells (and their villages), wherever they lie; the
        # empty pattern matches no region code.
        like, cell_likes = "", queries.member_cell_likes(user.member_id or -1)
    if layer == "grids" and z < GRIDS_MIN_ZOOM:
        body = b""
    else:
        body = bytes(LAYERS[layer](z, x, y, like, today() - timedelta(days=29), cell_likes) or b"")
    return body, hashlib.md5(body).hexdigest()

"""A grid worker's worklist: the current cells and their households, whole or as changes since a token.

The token is the watermark of the previous download (see :func:`queries.watermark`),
bound to the member, so a phone fetches only what changed since.
"""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l

from core.coords import geojson_from_wgs84
from core.errors import Forbidden, Invalid
from grids.hierarchy import tier3_prefix
from outreach.worklist import queries


def encode_token(moment: datetime, member_id: int) -> str:
    """An opaque worklist token."""
    payload = json.dumps({"t": moment.isoformat(), "m": member_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_token(token: str, member_id: int) -> datetime:
    """The moment a worklist token stands for; 422 when it is not one of this member's tokens."""
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.fromisoformat(payload["t"])
        if payload["m"] != member_id or moment.tzinfo is None:
            raise ValueError
    except (ValueError, KeyError, TypeError, binascii.Error, json.JSONDecodeError) as error:
        raise Invalid(errors={"query": {"since": ["Not a worklist token of yours."]}}) from error
    return moment


def worklist(user, since_token: str | None, crs: str = "wgs84") -> dict[str, Any]:
    """The worker's current cells and their households, or the changes since a token; coordinates in ``crs``
    (WGS84 by default, GCJ-02 or BD-09 for the map SDKs of Chinese phones)."""
    if user.member_id is None:
        raise Forbidden(_l("Only a member's account has a worklist."))
    since = decode_token(since_token, user.member_id) if since_token else None
    next_moment = queries.watermark()
    cells, removed_cells = queries.worklist_cells(user.member_id, since)
    prefixes = sorted({tier3_prefix(code) for code, *_ in cells})
    added_prefixes = sorted({tier3_prefix(row[0]) for row in cells if row[5]})
    households, removed_households = [], []
    rows = queries.worklist_households(prefixes, since)
    if since is not None and added_prefixes:
        # Everything in newly assigned cells, whatever its age.
        seen = {row[0] for row in rows}
        rows += [row for row in queries.worklist_households(added_prefixes, None) if row[0] not in seen]
    for row in rows:
        if row[8] is not None:
            removed_households.append(row[0])
            continue
        households.append({"id": row[0], "grid_code": row[1], "address": row[2], "location": row[3],
                           "residents": row[4], "tags": row[5], "last_visit_at": row[6],
                           "last_completed_on": row[7]})
    if since is not None and removed_cells:
        still = tuple(prefixes)
        gone = sorted({tier3_prefix(code) for code in removed_cells})
        for row in queries.worklist_households(gone, None):
            if not row[1].startswith(still):
                removed_households.append(row[0])
    cells = [c for c in cells if since is None or c[5]]
    # Each list converted in one vectorised pass (a no-op for WGS84).
    shapes = geojson_from_wgs84([c[4] for c in cells], crs)
    for household, point in zip(households, geojson_from_wgs84([h["location"] for h in households], crs),
                                strict=True):
        household["location"] = point
    return {
        "full": since is None,
        "crs": crs,
        "cells": [{"code": c[0], "tier": c[1], "name": c[2], "role": c[3], "geometry": shape}
                  for c, shape in zip(cells, shapes, strict=True)],
        "removed_cells": removed_cells,
        "households": households,
        "removed_households": sorted(set(removed_households)),
        "next": encode_token(next_moment, user.member_id),
    }


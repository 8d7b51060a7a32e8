"""Benchmark: OGC API – Features list requests over the full city (35,260 tier-3 cells).

Server side: filtered (CQL2 text and JSON), bbox and paged requests to ``/ogc``, as QGIS or
GDAL send them, over HTTP through the app (Flask's in-process client, the city administrator
signed in with a Bearer token).

Baseline, in the same run, for the same rows: what a GIS desk must do without server-side
selection — download the whole layer (pages of 10,000, following the ``next`` links) and
select on the client (property tests in Python, shapely for the bbox). Each line prints the
p50 of both and the ratio; the result sets are checked to be the same ids.

Unfiltered requests (1,000 items, a 5,000-feature walk, a village-coverage page) are timed
too: they must keep their latency.  Run in the scratch database ``grids_bench`` (seeded on
first use; ``flask seed visits`` on it gives village coverage real rollups to read).
"""
from __future__ import annotations

import argparse
import json
import secrets
import statistics
import time
from collections.abc import Callable
from urllib.parse import quote

from common import seeded_bench_app
from rich.console import Console
from rich.table import Table
from shapely.geometry import box, shape
from sqlalchemy import select, text

from core.extensions import db
from grids.accounts.models import User
from grids.accounts.services import ensure_admin, tokens_for

ITEMS = "/ogc/collections/{}/items"
PAGE = 10_000  # the server's largest page: the fewest round trips a client can make


def bearer(app) -> str:
    """An access token of the city administrator (created in a scratch database seeded without accounts)."""
    with app.app_context():
        admin = db.session.scalar(select(User).where(User.role == "city_admin").order_by(User.id))
        if admin is None:
            admin, _created = ensure_admin(secrets.token_urlsafe(16), app.config["GRIDS_CITY_CODE"])
        return tokens_for(admin, with_refresh=False)["access_token"]


def walk(client, url: str) -> list[dict]:
    """Every feature from ``url`` on, following the ``next`` links."""
    features = []
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        page = json.loads(response.get_data())
        features += page["features"]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        if url:
            url = url[url.index("/ogc"):]
    return features


def timed(repeat: int, run: Callable[[], list[dict]]) -> tuple[float, list[str]]:
    """p50 milliseconds of ``run`` over ``repeat`` runs (after one warm-up), and the ids of its result."""
    result = run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), sorted(f["id"] for f in result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15, help="runs of each server request")
    parser.add_argument("--baseline-repeat", type=int, default=3, help="runs of each whole-layer download")
    args = parser.parse_args()
    console = Console(width=150)
    app = seeded_bench_app(console)
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {bearer(app)}"
    with app.app_context():
        lon, lat = db.session.execute(text(
            "select ST_X(c), ST_Y(c) from (select ST_Centroid(ST_Extent(boundary)) c from regions"
            " where level = 'county' and code like '610902%') x")).one()
        cells = db.session.scalar(text("select count(*) from grids where tier = 3"))
    # A 10 km square around the county seat's centroid (0.09° of latitude, 0.107° of longitude here).
    area = (lon - 0.0535, lat - 0.045, lon + 0.0535, lat + 0.045)
    bbox = ",".join(f"{v:.6f}" for v in area)
    console.print(f"grids_bench: {cells:,} tier-3 cells; bbox {bbox}")

    # --- unfiltered: must keep their latency ---
    table = Table("unfiltered request", "p50 ms", "features", title="Unfiltered (before/after)")
    for label, url in (
        ("tier-3 cells, limit=1000", ITEMS.format("grids-tier3") + "?limit=1000"),
        ("tier-3 cells, limit=1000&offset=20000", ITEMS.format("grids-tier3") + "?limit=1000&offset=20000"),
        ("village coverage, limit=100", ITEMS.format("village-coverage") + "?limit=100"),
        ("village coverage, limit=100&offset=1800", ITEMS.format("village-coverage") + "?limit=100&offset=1800"),
    ):
        p50, ids = timed(args.repeat, lambda url=url: json.loads(client.get(url).get_data())["features"])
        table.add_row(label, f"{p50:.1f}", f"{len(ids):,}")
    p50, ids = timed(max(3, args.repeat // 3),
                     lambda: _walk_n(client, ITEMS.format("grids-tier3") + "?limit=1000", 5000))
    table.add_row("tier-3 cells, 5,000 features in pages of 1,000", f"{p50:.1f}", f"{len(ids):,}")
    console.print(table)

    # --- selections: server vs whole-layer download + client selection ---
    everything = ITEMS.format("grids-tier3") + f"?limit={PAGE}"
    cql_json = json.dumps({"op": "and", "args": [{"op": ">", "args": [{"property": "households"}, 30]},
                                                  {"op": "like", "args": [{"property": "code"}, "610902%"]}]})
    square = box(*area)
    cases = [
        ("bbox 10 km", f"bbox={bbox}",
         lambda f: shape(f["geometry"]).intersects(square)),
        ("CQL2 text households > 30", "filter=" + quote("households > 30"),
         lambda f: f["properties"]["households"] > 30),
        ("CQL2 JSON households > 30 AND code LIKE '610902%'",
         "filter-lang=cql2-json&filter=" + quote(cql_json),
         lambda f: f["properties"]["households"] > 30 and f["properties"]["code"].startswith("610902")),
        ("CQL2 S_INTERSECTS(geometry, BBOX(10 km)) AND households >= 20",
         "filter=" + quote(f"S_INTERSECTS(geometry, BBOX({bbox})) AND households >= 20"),
         lambda f: shape(f["geometry"]).intersects(square) and f["properties"]["households"] >= 20),
    ]
    verdicts: list[str] = []
    table = Table("selection", "server p50 ms", "features", "baseline p50 ms", "ratio",
                  title="Server-side selection vs whole-layer download + client selection")
    for label, query, keep in cases:
        probe = client.get(ITEMS.format("grids-tier3") + f"?limit=1&{query}")
        if probe.status_code != 200:
            table.add_row(label, f"answers {probe.status_code}", "", "", "")
            continue
        server_ms, server_ids = timed(args.repeat, lambda q=query: walk(
            client, ITEMS.format("grids-tier3") + f"?limit={PAGE}&{q}"))
        base_ms, base_ids = timed(args.baseline_repeat, lambda keep=keep: [
            f for f in walk(client, everything) if keep(f)])
        assert server_ids == base_ids, f"{label}: {len(server_ids)} ids from the server, {len(base_ids)} on the client"
        table.add_row(label, f"{server_ms:.1f}", f"{len(server_ids):,}", f"{base_ms:.1f}",
                      f"{server_ms / base_ms:.3f}×")
        verdicts.append(verdict(label, server_ms, base_ms))
    # Paged: the same filter walked in pages of 1,000 (as QGIS pages a layer).
    paged = "filter=" + quote("households > 30")
    if client.get(ITEMS.format("grids-tier3") + f"?limit=1&{paged}").status_code == 200:
        server_ms, server_ids = timed(max(3, args.repeat // 3), lambda: walk(
            client, ITEMS.format("grids-tier3") + f"?limit=1000&{paged}"))
        base_ms, base_ids = timed(args.baseline_repeat, lambda: [
            f for f in walk(client, ITEMS.format("grids-tier3") + "?limit=1000")
            if f["properties"]["households"] > 30])
        assert server_ids == base_ids
        table.add_row("paged (1,000) households > 30", f"{server_ms:.1f}", f"{len(server_ids):,}",
                      f"{base_ms:.1f}", f"{server_ms / base_ms:.3f}×")
        verdicts.append(verdict("paged (1,000) households > 30", server_ms, base_ms))
    console.print(table)
    for line in verdicts:
        console.print(line)


def verdict(label: str, server_ms: float, base_ms: float) -> str:
    """A selection's line for ``make bench``: the server must beat downloading the layer and selecting on
    the client (the point of server-side filters)."""
    passed = server_ms < base_ms
    return (f"OGC {label}: server {server_ms:.0f} ms vs client-side selection {base_ms:.0f} ms "
            f"({server_ms / base_ms:.3f}×), target < 1×: {'PASS' if passed else 'FAIL'}")


def _walk_n(client, url: str, n: int) -> list[dict]:
    """The first ``n`` features from ``url`` on, following the ``next`` links."""
    features = []
    while url and len(features) < n:
        page = json.loads(client.get(url).get_data())
        features += page["features"]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        if url:
            url = url[url.index("/ogc"):]
    return features[:n]


if __name__ == "__main__":
    main()

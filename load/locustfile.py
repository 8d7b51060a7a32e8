"""Locust scenario: phones download worklists, go offline, sync batches (sometimes twice); supervisors read
coverage, time series, map tiles and flagged visits.

Accounts and tokens come from the file named by LOAD_USERS (written by load/run.py);
every visit acknowledged as created is written to LOAD_ACKS when the run stops, so
the runner can check the database holds exactly those, once each.
"""
from __future__ import annotations

import itertools
import json
import os
import random
import threading
import uuid
from datetime import UTC, datetime, timedelta

from locust import HttpUser, between, events, task

with open(os.environ["LOAD_USERS"], encoding="utf-8") as handle:
    ACCOUNTS = json.load(handle)
PHONE_ACCOUNTS = itertools.cycle(ACCOUNTS["phones"])
ACKNOWLEDGED: set[str] = set()
LOCK = threading.Lock()


class Phone(HttpUser):
    """A grid worker's phone."""

    weight = 30
    wait_time = between(1, 4)

    def on_start(self):
        account = next(PHONE_ACCOUNTS)
        self.client.headers["Authorization"] = f"Bearer {account['token']}"
        self.households = account["households"]
        self.clock = datetime.now(UTC) - timedelta(days=5)
        response = self.client.get("/api/v1/me/worklist", name="/me/worklist")
        self.since = response.json().get("next") if response.ok else None
        self.last_batch = None

    def _batch(self) -> list[dict]:
        visits = []
        for _ in range(random.randint(20, 60)):
            household_id, grid_code, lon, lat = random.choice(self.households)
            self.clock += timedelta(minutes=random.randint(3, 15))
            visits.append({"id": str(uuid.uuid4()), "household_id": household_id, "grid_code": grid_code,
                           "visited_at": min(self.clock, datetime.now(UTC)).isoformat(),
                           "outcome": random.choice(["completed"] * 8 + ["nobody_home", "refused"]),
                           "location": {"lon": lon + random.gauss(0, 0.00005), "lat": lat, "crs": "wgs84",
                                        "accuracy_m": random.uniform(5, 40)},
                           "topics": ["investment"], "app_installed": random.random() < 0.6})
        return visits

    @task(6)
    def sync(self):
        """Back online: send what was recorded offline; sometimes the answer is lost and it is sent again."""
        retry = self.last_batch is not None and random.random() < 0.15
        batch = self.last_batch if retry else self._batch()
        with self.client.post("/api/v1/visits/sync", json={"visits": batch},
                              name="/visits/sync (retry)" if retry else "/visits/sync",
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"status {response.status_code}")
                return
            results = response.json()["results"]
            created = {r["id"] for r in results if r["status"] == "created"}
            if retry and created:
                response.failure("a retried batch created visits again")
            with LOCK:
                ACKNOWLEDGED.update(created)
        self.last_batch = batch

    @task(1)
    def worklist_changes(self):
        """Pick up what changed since the last download."""
        response = self.client.get("/api/v1/me/worklist", params={"since": self.since} if self.since else None,
                                   name="/me/worklist?since")
        if response.ok:
            self.since = response.json().get("next")


class Supervisor(HttpUser):
    """A township or county supervisor at a desk."""

    weight = 1
    wait_time = between(1, 3)

    def on_start(self):
        account = random.choice(ACCOUNTS["supervisors"])
        self.client.headers["Authorization"] = f"Bearer {account['token']}"
        self.region = account["region"]

    @task(3)
    def coverage(self):
        self.client.get("/api/v1/coverage", params={"region": self.region, "by": "village"}, name="/coverage")

    @task(1)
    def timeseries(self):
        self.client.get("/api/v1/coverage/timeseries", params={"region": self.region, "interval": "week"},
                        name="/coverage/timeseries")

    @task(2)
    def tiles(self):
        """Pan the map: a few z13 cell tiles around the middle of the city."""
        x, y = 6574 + random.randint(-30, 30), 3301 + random.randint(-30, 30)
        self.client.get(f"/api/v1/tiles/grids/13/{x}/{y}.pbf", name="/tiles/grids/13/{x}/{y}.pbf")

    @task(1)
    def flagged_visits(self):
        self.client.get("/api/v1/visits", params={"region": self.region, "flag": "outside_grid", "page_size": 50},
                        name="/visits?flag")


@events.test_stop.add_listener
def _write_acknowledged(**_kwargs):
    with open(os.environ["LOAD_ACKS"], "w", encoding="utf-8") as handle:
        json.dump(sorted(ACKNOWLEDGED), handle)

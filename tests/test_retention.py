"""Visit retention: old monthly partitions archived to a compressed file, detached, and loaded back."""
from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core.errors import Conflict, Invalid
from outreach.visits.retention import archive_old_visit_partitions, load_visit_archive, partitions_older_than
from tests.helpers import first_village, one, sql, visit_in

VISIT_TABLE_CHECKSUM = """
    select count(*), md5(string_agg(v::text, '|' order by v.id)) from visits v
    where visited_at >= :f and visited_at < :t
"""
KEY_CHECKSUM = """
    select count(*), md5(string_agg(k::text, '|' order by k.id)) from visit_keys k
    where visited_at >= :f and visited_at < :t
"""


@pytest.fixture
def old_month():
    """Three visits stored (through the sync service) in a month three years ago."""
    now = datetime.now(UTC)
    start = datetime(now.year - 3, now.month, 1, tzinfo=UTC)
    sql("select ensure_visit_partition(:m)", m=start.date())
    village = first_village("610902")
    ids = [visit_in(village, at=start + timedelta(days=day, hours=3)) for day in (2, 9, 20)]
    end = datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=UTC)
    return {"start": start, "end": end, "ids": ids, "name": f"visits_{start:%Y_%m}"}


def _partition_exists(name):
    return one("select to_regclass(:n) is not null", n=name)[0]


def test_old_partitions_are_archived_detached_and_loaded_back(app, client, old_month, tmp_path):
    window = {"f": old_month["start"], "t": old_month["end"]}
    visits_before = one(VISIT_TABLE_CHECKSUM, **window)
    keys_before = one(KEY_CHECKSUM, **window)
    assert visits_before[0] == 3 and keys_before[0] == 3
    recent = one("select count(*) from visits where visited_at >= now() - interval '60 days'")[0]
    rollups_before = one("select count(*), sum(visits) from village_day_counts")

    done = archive_old_visit_partitions(24, tmp_path)

    assert [item.partition for item in done] == [old_month["name"]]
    archive = done[0].path
    assert archive.exists() and archive.name.endswith(".archive.gz")
    with gzip.open(archive, "rt") as handle:
        header = json.loads(handle.readline())
    assert header["visits"] == 3 and header["keys"] == 3 and header["partition"] == old_month["name"]
    assert not _partition_exists(old_month["name"])
    assert one(KEY_CHECKSUM, **window)[0] == 0
    assert one("select count(*) from visits where visited_at >= now() - interval '60 days'")[0] == recent
    assert one("select count(*), sum(visits) from village_day_counts") == rollups_before  # rollups kept
    # The archived visits are gone from the API too.
    assert client.get(f"/api/v1/visits/{old_month['ids'][0]}").status_code == 404

    loaded = load_visit_archive(archive)
    assert (loaded.visits, loaded.keys) == (3, 3)
    assert one(VISIT_TABLE_CHECKSUM, **window) == visits_before
    assert one(KEY_CHECKSUM, **window) == keys_before
    assert client.get(f"/api/v1/visits/{old_month['ids'][0]}").status_code == 200
    # Loading twice would duplicate: refused, nothing changed.
    with pytest.raises(Conflict):
        load_visit_archive(archive)
    assert one(VISIT_TABLE_CHECKSUM, **window) == visits_before


def test_recent_months_are_never_archived(app, old_month, tmp_path):
    assert old_month["name"] in [name for name, _ in partitions_older_than(24)]
    assert old_month["name"] not in [name for name, _ in partitions_older_than(48)]
    with pytest.raises(Invalid):
        archive_old_visit_partitions(1, tmp_path)  # younger than the sync window
    assert archive_old_visit_partitions(48, tmp_path) == []
    dry = archive_old_visit_partitions(24, tmp_path, dry_run=True)
    assert [(item.partition, item.visits) for item in dry] == [(old_month["name"], 3)]
    assert _partition_exists(old_month["name"]) and not list(tmp_path.iterdir())


def test_a_damaged_archive_is_refused_and_loads_nothing(app, old_month, tmp_path):
    [done] = archive_old_visit_partitions(24, tmp_path)
    with gzip.open(done.path, "rb") as handle:
        lines = handle.readlines()
    damaged = tmp_path / "damaged.archive.gz"
    with gzip.open(damaged, "wb") as handle:
        handle.writelines(lines[:2] + lines[3:])  # one visit line missing
    with pytest.raises(Invalid):
        load_visit_archive(damaged)
    assert one("select count(*) from visits where visited_at >= :f and visited_at < :t",
               f=old_month["start"], t=old_month["end"])[0] == 0
    (tmp_path / "garbage.archive.gz").write_bytes(b"not gzip")
    with pytest.raises(Invalid):
        load_visit_archive(tmp_path / "garbage.archive.gz")


def test_the_archive_commands(app, tmp_path):
    """The CLI faces: a dry run over the real database lists nothing old (fresh seed), exit 0."""
    root = Path(__file__).resolve().parent.parent
    env = {"FLASK_APP": "app:create_app", "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "GRIDS_ARCHIVE_DIR": str(tmp_path)}
    import os

    result = subprocess.run([sys.executable, "-m", "flask", "visits", "archive", "--dry-run"], cwd=root,
                            env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no visit partition is old enough" in result.stdout
    result = subprocess.run([sys.executable, "-m", "flask", "visits", "load-archive", str(tmp_path / "none.gz")],
                            cwd=root, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0

#!/usr/bin/env python3
"""Project-local PostgreSQL + PostGIS cluster under ``var/``.

Stdlib only, so it runs before the virtual environment exists.  Commands:

    ensure-postgis   install Debian's PostGIS package when it is missing (root only)
    start            initialise the cluster on first use, start it, create databases
    stop             stop the cluster
    status           print whether it runs
    url [DBNAME]     print the SQLAlchemy URL of a database in the cluster

PostgreSQL refuses to run as root, so when uid is 0 every server command runs as
the ``postgres`` system user and the data directory is owned by it.  The cluster
listens on 127.0.0.1 on its own port with its socket under ``var/run`` so a
PostgreSQL already on the machine is never touched.  ``DATABASE_URL`` in the
environment means "use that server instead": start/stop then do nothing.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from system_tools import apt_install  # the same folder: run as scripts/localdb.py

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
DATA = VAR / "pgdata"
RUN = VAR / "run"
LOG = VAR / "postgres.log"
PORT = int(os.environ.get("GRIDS_PG_PORT", "54329"))
DATABASES = ("grids", "grids_test")
SUPERUSER = "postgres"


def _say(message: str) -> None:
    print(f"[localdb] {message}", file=sys.stderr, flush=True)


def _is_root() -> bool:
    return os.geteuid() == 0


def _pg_major_versions() -> list[str]:
    versions = [Path(p).name for p in glob.glob("/usr/lib/postgresql/*") if Path(p, "bin", "postgres").exists()]
    return sorted(versions, key=lambda v: int(v) if v.isdigit() else 0)


def _bindir() -> Path:
    versions = _pg_major_versions()
    # Prefer the newest server that has PostGIS installed; else the newest server.
    for version in reversed(versions):
        if _has_postgis(version):
            return Path("/usr/lib/postgresql") / version / "bin"
    if versions:
        return Path("/usr/lib/postgresql") / versions[-1] / "bin"
    sys.exit("[localdb] no PostgreSQL server found under /usr/lib/postgresql; "
             "install Debian's 'postgresql' package")


def _has_postgis(version: str) -> bool:
    return bool(glob.glob(f"/usr/share/postgresql/{version}/extension/postgis.control"))


def _run_as_owner(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    if _is_root():
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, **kwargs)


def ensure_postgis() -> None:
    """Install PostGIS for the installed server version when it is missing."""
    versions = _pg_major_versions()
    if any(_has_postgis(v) for v in versions):
        return
    if not versions:
        packages = ["postgresql", "postgresql-postgis"]
    else:
        packages = [f"postgresql-{versions[-1]}-postgis-3"]
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if not _is_root():
        sys.exit("[localdb] PostGIS is missing; run as root:\n  apt-get update && " + " ".join(command))
    if apt_install(packages, say=_say) != 0 and versions:
        # Newer Debian: no versioned package for this server; take the distribution's own.
        if apt_install(["postgresql", "postgresql-postgis"], say=_say) != 0:
            sys.exit("[localdb] apt-get could not install PostGIS")
    if not any(_has_postgis(v) for v in _pg_major_versions()):
        sys.exit("[localdb] PostGIS installation failed")


def _pg_ctl(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _run_as_owner([str(_bindir() / "pg_ctl"), "-D", str(DATA), *args], check=check,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _running() -> bool:
    if not (DATA / "PG_VERSION").exists():
        return False
    return _pg_ctl("status", check=False).returncode == 0


def _init() -> None:
    VAR.mkdir(exist_ok=True)
    RUN.mkdir(exist_ok=True)
    if (DATA / "PG_VERSION").exists():
        version = (DATA / "PG_VERSION").read_text().strip()
        if not Path("/usr/lib/postgresql", version, "bin", "postgres").exists():
            sys.exit(f"[localdb] {DATA} was made by PostgreSQL {version}, which is not installed")
        return
    DATA.mkdir(exist_ok=True)
    if _is_root():
        shutil.chown(DATA, "postgres", "postgres")
        shutil.chown(RUN, "postgres", "postgres")
        LOG.touch()
        shutil.chown(LOG, "postgres", "postgres")
        probe = subprocess.run(["runuser", "-u", "postgres", "--", "test", "-w", str(DATA)])
        if probe.returncode != 0:
            sys.exit(f"[localdb] the postgres user cannot reach {DATA}; make its parent folders "
                     "traversable (chmod o+x) or set DATABASE_URL")
    _say(f"initialising a cluster in {DATA}")
    _run_as_owner([str(_bindir() / "initdb"), "-D", str(DATA), "-U", SUPERUSER, "--auth=trust",
                   "--encoding=UTF8", "--locale=C.UTF-8"], check=True, stdout=subprocess.DEVNULL)
    settings = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(PORT),
        "unix_socket_directories": f"'{RUN}'",
        "shared_buffers": "'512MB'",
        "work_mem": "'32MB'",
        "maintenance_work_mem": "'512MB'",
        "max_wal_size": "'4GB'",
        "max_connections": "200",
        "timezone": "'UTC'",
        # Short OLTP queries and reports over rollups: compiling them costs more than it saves.
        "jit": "off",
        # A development cluster nothing replicates from: bulk loads into tables created or emptied in
        # the same transaction (the seeders' partitions, staging tables, index builds) write no WAL.
        "wal_level": "minimal",
        "max_wal_senders": "0",
    }
    with open(DATA / "postgresql.auto.conf", "a", encoding="utf-8") as conf:
        for key, value in settings.items():
            conf.write(f"{key} = {value}\n")


def url(database: str = "grids") -> str:
    return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{PORT}/{database}"


def _psql(sql: str, database: str = "postgres") -> str:
    command = [str(_bindir() / "psql"), "-h", "127.0.0.1", "-p", str(PORT), "-U", SUPERUSER, "-d", database,
               "-Atqc", sql]
    result = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return result.stdout.strip()


def start() -> None:
    if os.environ.get("DATABASE_URL"):
        _say("DATABASE_URL is set; not starting the local cluster")
        return
    ensure_postgis()
    _init()
    if not _running():
        _say(f"starting PostgreSQL on 127.0.0.1:{PORT}")
        # The port of this run wins over the one written at initialisation (GRIDS_PG_PORT may change).
        result = _pg_ctl("-l", str(LOG), "-w", "-t", "60", "-o", f"-p {PORT}", "start", check=False)
        if result.returncode != 0:
            sys.exit(f"[localdb] PostgreSQL did not start; see {LOG}\n{result.stdout}")
    for _ in range(60):
        if subprocess.run([str(_bindir() / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(PORT)]).returncode == 0:
            break
        time.sleep(0.5)
    for database in DATABASES:
        if _psql(f"select 1 from pg_database where datname = '{database}'") != "1":
            _psql(f'create database "{database}"')
        _psql("create extension if not exists postgis", database)


def stop() -> None:
    if _running():
        _pg_ctl("-m", "fast", "stop")
        _say("stopped")


def main(argv: list[str]) -> None:
    command = argv[1] if len(argv) > 1 else "start"
    if command == "ensure-postgis":
        ensure_postgis()
    elif command == "start":
        start()
    elif command == "stop":
        stop()
    elif command == "status":
        print("running" if _running() else "stopped")
    elif command == "url":
        print(url(argv[2] if len(argv) > 2 else "grids"))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)

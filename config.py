"""Application configuration, read from the environment when the app is created.

Nothing here runs at import time: :func:`load_config` is called by ``create_app``.
"""
from __future__ import annotations

import json
import os
from typing import Any

from core.keys import (
    METRICS_TOKEN_FILE,
    PHONE_KEYS_FILE,
    ROOT,
    SECRET_KEY_FILE,
    VAPID_KEY_FILE,
    development_key_file,
    key_dir,
    new_vapid_key,
    vapid_key_problem,
)

VAR_DIR = ROOT / "var"

LOCAL_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:{port}/grids"

# The reference deployment: Ankang, Shaanxi.  The bounding box is the one the
# synthetic reference data set is built inside; points outside it are rejected.
CITY_CODE = "610900000000"
CITY_BBOX = (108.0, 31.7, 110.2, 33.8)
DEFAULT_WARNING_DEADLINES = {"urgent": {"ack": 5, "meet": 30}, "high": {"meet": 120}, "medium": {"meet": 1440},
                             "low": {"meet": 4320}}
MIN_SECRET_LENGTH = 32
DEFAULT_LEAD_CAPACITY = {"village_secretary": 2, "village_cadre": 3, "township_cadre": 3, "party_member": 3,
                         "grid_worker": 6}


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _hours(value: str) -> tuple[int, int] | None:
    """``"22-6"`` → (22, 6): a window of local hours, end excluded (may wrap past midnight); empty → None."""
    if not value.strip():
        return None
    start, end = (int(part) for part in value.split("-"))
    if not (0 <= start <= 23 and 0 <= end <= 24 and start != end):
        raise ValueError(f"a window of hours is START-END within 0-24: {value!r}")
    return start, end


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask configuration from environment variables and ``overrides``."""
    env = os.environ
    port = env.get("GRIDS_PG_PORT", "54329")
    config: dict[str, Any] = {
        "GRIDS_ENV": env.get("GRIDS_ENV", "development"),
        "SECRET_KEY": env.get("SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": env.get("DATABASE_URL") or LOCAL_DATABASE_URL.format(port=port),
        "SQLALCHEMY_ENGINE_OPTIONS": {
            "pool_pre_ping": True,
            # Errors (and so logged tracebacks) never carry bound values: names, phones, usernames.
            "hide_parameters": True,
            "pool_size": int(env.get("GRIDS_DB_POOL_SIZE", "5")),
            # Fail fast (and answer 503) rather than hang when the database is down.
            "connect_args": {
                "connect_timeout": int(env.get("GRIDS_DB_CONNECT_TIMEOUT", "3")),
                # No request may hold the database longer than this (commands set their own).
                "options": f"-c statement_timeout={int(env.get('GRIDS_DB_STATEMENT_TIMEOUT_MS', '30000'))}",
            },
        },
        "SQLALCHEMY_RECORD_QUERIES": False,
        "MAX_CONTENT_LENGTH": int(env.get("GRIDS_MAX_BODY_BYTES", str(20 * 1024 * 1024))),
        "BABEL_DEFAULT_LOCALE": env.get("GRIDS_DEFAULT_LOCALE", "en"),
        "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
        "GRIDS_CITY_CODE": env.get("GRIDS_CITY_CODE", CITY_CODE),
        "GRIDS_CITY_BBOX": CITY_BBOX,
        "GRIDS_ADMIN_PASSWORD": env.get("GRIDS_ADMIN_PASSWORD"),
        "GRIDS_SEED_SCALE": float(env.get("GRIDS_SEED_SCALE", "1.0")),
        # Comma-separated: the first encrypts and hashes, all decrypt (rotation).
        "GRIDS_PHONE_KEY": env.get("GRIDS_PHONE_KEY"),
        "GRIDS_PHONE_KEY_FILE": None,
        # Bearer token Prometheus scrapes /metrics with (unset in production: /metrics answers 404).
        "GRIDS_METRICS_TOKEN": env.get("GRIDS_METRICS_TOKEN"),
        "GRIDS_ACCESS_TOKEN_SECONDS": int(env.get("GRIDS_ACCESS_TOKEN_SECONDS", "900")),
        "GRIDS_REFRESH_TOKEN_SECONDS": int(env.get("GRIDS_REFRESH_TOKEN_SECONDS", str(7 * 24 * 3600))),
        "GRIDS_LOGIN_RATE_LIMIT": env.get("GRIDS_LOGIN_RATE_LIMIT", "10 per minute"),
        # Failed sign-ins per address across all usernames (the other limit is per address and username).
        "GRIDS_LOGIN_ADDRESS_RATE_LIMIT": env.get("GRIDS_LOGIN_ADDRESS_RATE_LIMIT", "30 per minute"),
        # Unset: the application's database (core.rate_limits), shared by every worker and host.
        "RATELIMIT_STORAGE_URI": env.get("GRIDS_RATELIMIT_STORAGE"),
        "RATELIMIT_HEADERS_ENABLED": True,
        # The counters live in the database: when it is down nothing works anyway, and the request
        # should answer 503 from the database error rather than 500 from the limiter.
        "RATELIMIT_SWALLOW_ERRORS": True,
        # How many cells a member of each kind may lead as chief, and hold in all.
        "GRIDS_LEAD_CAPACITY": json.loads(env.get("GRIDS_LEAD_CAPACITY", json.dumps(DEFAULT_LEAD_CAPACITY))),
        "GRIDS_MAX_ASSIGNMENTS": int(env.get("GRIDS_MAX_ASSIGNMENTS", "12")),
        "GRIDS_PLAN_CHANGE_PENALTY_M": int(env.get("GRIDS_PLAN_CHANGE_PENALTY_M", "3000")),
        "GRIDS_PLAN_CANDIDATES": int(env.get("GRIDS_PLAN_CANDIDATES", "12")),
        # Visit sync: what is accepted and what is flagged.
        "GRIDS_VISIT_WINDOW_DAYS": int(env.get("GRIDS_VISIT_WINDOW_DAYS", "30")),
        "GRIDS_VISIT_MAX_FUTURE_HOURS": int(env.get("GRIDS_VISIT_MAX_FUTURE_HOURS", "24")),
        "GRIDS_CLOCK_SKEW_MINUTES": int(env.get("GRIDS_CLOCK_SKEW_MINUTES", "5")),
        "GRIDS_OUTSIDE_GRID_TOLERANCE_M": float(env.get("GRIDS_OUTSIDE_GRID_TOLERANCE_M", "100")),
        "GRIDS_MAX_TRAVEL_KMH": float(env.get("GRIDS_MAX_TRAVEL_KMH", "60")),
        "GRIDS_TRAVEL_MIN_DISTANCE_M": float(env.get("GRIDS_TRAVEL_MIN_DISTANCE_M", "300")),
        "GRIDS_LOW_ACCURACY_M": float(env.get("GRIDS_LOW_ACCURACY_M", "100")),
        # implausible_pace: visits in this local night window ("0-5": 00:00-04:59; empty: off), or past
        # this many visits by one member in a local day.
        "GRIDS_PACE_NIGHT_HOURS": _hours(env.get("GRIDS_PACE_NIGHT_HOURS", "0-5")),
        "GRIDS_PACE_MAX_VISITS_PER_DAY": int(env.get("GRIDS_PACE_MAX_VISITS_PER_DAY", "60")),
        # Coverage below the first share is red, below the second amber, else green.
        "GRIDS_COVERAGE_BANDS": tuple(float(x) for x in env.get("GRIDS_COVERAGE_BANDS", "0.6,0.9").split(",")),
        # Visit partitions older than this many months are archived (flask visits archive).
        "GRIDS_VISIT_RETENTION_MONTHS": int(env.get("GRIDS_VISIT_RETENTION_MONTHS", "24")),
        "GRIDS_ARCHIVE_DIR": env.get("GRIDS_ARCHIVE_DIR") or str(ROOT / "var" / "archive"),
        "GRIDS_BACKUP_DIR": env.get("GRIDS_BACKUP_DIR") or str(ROOT / "var" / "backups"),
        "GRIDS_CERTIFICATION_VALID_DAYS": int(env.get("GRIDS_CERTIFICATION_VALID_DAYS", "365")),
        # Fund warnings: minutes to acknowledge (urgent) and to meet the resident, per level;
        # each escalation step gets the level's meeting window again.
        "GRIDS_WARNING_DEADLINES": json.loads(env.get("GRIDS_WARNING_DEADLINES",
                                                      json.dumps(DEFAULT_WARNING_DEADLINES))),
        # The CJK font embedded in bulletin PDFs (Debian's fonts-wqy-microhei).
        "GRIDS_PDF_FONT": env.get("GRIDS_PDF_FONT", "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
        "GRIDS_LOG_FORMAT": env.get("GRIDS_LOG_FORMAT", "json"),
        "GRIDS_LOG_LEVEL": env.get("GRIDS_LOG_LEVEL", "INFO"),
        "GRIDS_SYNC_RATE_LIMIT": env.get("GRIDS_SYNC_RATE_LIMIT", "120 per minute"),
        # Jobs and notifications (the worker: `flask jobs worker`, started by `make run`).
        "GRIDS_JOB_SCHEDULES": json.loads(env.get("GRIDS_JOB_SCHEDULES", "{}")),
        "GRIDS_WORKER_CONCURRENCY": int(env.get("GRIDS_WORKER_CONCURRENCY", "2")),
        "GRIDS_QUIET_HOURS": env.get("GRIDS_QUIET_HOURS", "22:00-07:00"),
        "GRIDS_NOTIFICATION_LOCALE": env.get("GRIDS_NOTIFICATION_LOCALE", "zh_CN"),
        "GRIDS_DELIVERY_BATCH": int(env.get("GRIDS_DELIVERY_BATCH", "200")),
        "GRIDS_DELIVERY_POLL_SECONDS": float(env.get("GRIDS_DELIVERY_POLL_SECONDS", "5")),
        "GRIDS_DELIVERY_MAX_ATTEMPTS": int(env.get("GRIDS_DELIVERY_MAX_ATTEMPTS", "8")),
        "GRIDS_PUSH_THREADS": int(env.get("GRIDS_PUSH_THREADS", "16")),
        "GRIDS_PUSH_TIMEOUT_SECONDS": float(env.get("GRIDS_PUSH_TIMEOUT_SECONDS", "10")),
        "GRIDS_PUSH_ALLOW_HTTP": _bool(env.get("GRIDS_PUSH_ALLOW_HTTP")),
        "GRIDS_VAPID_PRIVATE_KEY": env.get("GRIDS_VAPID_PRIVATE_KEY"),
        # development: var/keys/vapid_private.pem, generated on first start (see below)
        "GRIDS_VAPID_KEY_FILE": None,
        "GRIDS_VAPID_SUBJECT": env.get("GRIDS_VAPID_SUBJECT", "mailto:grids-operations@example.invalid"),
        "GRIDS_SMS_PROVIDER": env.get("GRIDS_SMS_PROVIDER", "fake"),
        "GRIDS_SMS_FAKE_FILE": env.get("GRIDS_SMS_FAKE_FILE", str(VAR_DIR / "sms-fake.jsonl")),
        "GRIDS_SMS_URL": env.get("GRIDS_SMS_URL"),
        "GRIDS_SMS_TOKEN": env.get("GRIDS_SMS_TOKEN"),
        "GRIDS_SSE_MAX_SECONDS": int(env.get("GRIDS_SSE_MAX_SECONDS", "300")),
        "GRIDS_SSE_HEARTBEAT_SECONDS": float(env.get("GRIDS_SSE_HEARTBEAT_SECONDS", "15")),
        "GRIDS_LAGGING_DAYS": int(env.get("GRIDS_LAGGING_DAYS", "30")),
        "GRIDS_CERTIFICATION_NOTICE_DAYS": int(env.get("GRIDS_CERTIFICATION_NOTICE_DAYS", "30")),
        "JSON_SORT_KEYS": False,
        # flask-smorest / OpenAPI
        "API_TITLE": "Grid outreach API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "/docs",
        "OPENAPI_SWAGGER_UI_URL": "/api/v1/docs/static/",
        "TESTING": _bool(env.get("GRIDS_TESTING")),
    }
    if overrides:
        config.update(overrides)
    if not config["RATELIMIT_STORAGE_URI"]:
        from core.rate_limits import storage_uri

        config["RATELIMIT_STORAGE_URI"] = storage_uri(config["SQLALCHEMY_DATABASE_URI"])
    if config["GRIDS_ENV"] != "development" and not config["TESTING"]:
        missing = [name for name in ("SECRET_KEY", "GRIDS_PHONE_KEY", "GRIDS_ADMIN_PASSWORD", "GRIDS_VAPID_PRIVATE_KEY")
                   if not config.get(name)]
        if missing:
            raise RuntimeError(f"{', '.join(missing)} must be set when GRIDS_ENV={config['GRIDS_ENV']}")
        if len(config["SECRET_KEY"]) < MIN_SECRET_LENGTH:
            raise RuntimeError(f"SECRET_KEY must be at least {MIN_SECRET_LENGTH} characters")
        problem = vapid_key_problem(config["GRIDS_VAPID_PRIVATE_KEY"])
        if problem:
            raise RuntimeError(f"GRIDS_VAPID_PRIVATE_KEY is {problem}")
        return config
    # Development and tests: keys generated once under var/keys (mode 600) and reused.
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = development_key_file(SECRET_KEY_FILE).read_text().strip()
    if not config["GRIDS_METRICS_TOKEN"]:
        config["GRIDS_METRICS_TOKEN"] = development_key_file(METRICS_TOKEN_FILE).read_text().strip()
    if not config["GRIDS_PHONE_KEY"] and not config["GRIDS_PHONE_KEY_FILE"]:
        config["GRIDS_PHONE_KEY_FILE"] = str(development_key_file(PHONE_KEYS_FILE))
    if not config["GRIDS_VAPID_PRIVATE_KEY"] and not config["GRIDS_VAPID_KEY_FILE"]:
        _adopt_previous_vapid_key()
        config["GRIDS_VAPID_KEY_FILE"] = str(development_key_file(VAPID_KEY_FILE, new_vapid_key))
    return config


def _adopt_previous_vapid_key() -> None:
    """A development key kept where earlier versions kept it (``var/vapid_private.pem``) moves to var/keys, so
    the browsers subscribed with it keep receiving pushes."""
    previous, current = VAR_DIR / VAPID_KEY_FILE, key_dir() / VAPID_KEY_FILE
    if current.parent == VAR_DIR / "keys" and previous.exists() and not current.exists():
        current.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        previous.chmod(0o600)
        try:
            os.link(previous, current)
        except FileExistsError:
            return
        previous.unlink(missing_ok=True)

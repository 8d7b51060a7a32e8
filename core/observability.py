"""Metrics (Prometheus), structured JSON logs with a request id, and the sync outcome counter.

Logs never carry request bodies, query strings, paths or headers: only the method, the
route (the URL rule, with placeholders), the status, the duration and the request
id, so usernames, names, phone numbers and tokens cannot reach them.  This is the only
access log: gunicorn's own (which writes the request line and the Basic username) is
left off in ``make run``/``make serve``.
"""
from __future__ import annotations

import hmac
import logging
import os
import time
import uuid

from flask import Flask, g, has_request_context, request
from flask_babel import lazy_gettext as _l
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_flask_exporter import PrometheusMetrics
from pythonjsonlogger.json import JsonFormatter

from core.errors import error_response

REQUEST_ID_HEADER = "X-Request-ID"


def _install_record_factory() -> None:
    """Every log record gets the current request's id (or "-"), whoever handles it."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_grids", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return record

    factory._grids = True
    logging.setLogRecordFactory(factory)


def configure_logging(app: Flask) -> None:
    """One JSON line per record on stderr (plain text when GRIDS_LOG_FORMAT=text)."""
    handler = logging.StreamHandler()
    if app.config["GRIDS_LOG_FORMAT"] == "json":
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                                           rename_fields={"asctime": "time", "levelname": "level"}))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    _install_record_factory()
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_grids", False)]
    handler._grids = True
    root.addHandler(handler)
    root.setLevel(app.config["GRIDS_LOG_LEVEL"])
    access = logging.getLogger("grids.access")

    @app.before_request
    def _start():
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if 8 <= len(incoming) <= 64 and incoming.isalnum() else uuid.uuid4().hex
        g.started = time.perf_counter()

    @app.after_request
    def _finish(response):
        response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
        rule = request.url_rule.rule if request.url_rule else "unmatched"
        ms = round((time.perf_counter() - g.get("started", time.perf_counter())) * 1000, 1)
        # The URL rule, never the path or query string: paths carry usernames, query strings anything.
        access.info("%s %s %s %.1f ms", request.method, rule, response.status_code, ms,
                    extra={"method": request.method, "route": rule, "status": response.status_code, "ms": ms})
        return response


def configure_metrics(app: Flask) -> None:
    """/metrics with request counts and latencies per endpoint, and visit sync outcomes.

    Each app gets its own registry (tests create several apps); under gunicorn set
    PROMETHEUS_MULTIPROC_DIR so the workers' figures are added up.
    """
    @app.before_request
    def _metrics_need_the_scrape_token():
        # /metrics names every endpoint and its traffic: only the scraper holding the token reads it.
        if request.path != "/metrics":
            return None
        token = app.config.get("GRIDS_METRICS_TOKEN")
        if not token:
            return error_response(404)
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            response = error_response(401, _l("Authentication is required."))
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        return None

    registry = CollectorRegistry(auto_describe=True)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    metrics = PrometheusMetrics(app, registry=registry, path="/metrics", group_by="endpoint",
                                default_labels={"service": "grids"})
    sync_results = Counter("grids_visit_sync_results_total", "Visits synced, by outcome", ["status"],
                           registry=registry)
    app.extensions["grids_metrics"] = {"metrics": metrics, "sync_results": sync_results}
    registry.register(DatabaseCollector(app))


class DatabaseCollector:
    """Figures the worker keeps in the database, read at scrape time so they add up whatever process ran
    the work: job runs and failures per job, notification deliveries by channel and status, the retries
    they needed, and the live workers."""

    def __init__(self, app: Flask):
        self.app = app

    def describe(self):
        return []

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
        from sqlalchemy import text

        from core.extensions import db

        runs = CounterMetricFamily("grids_job_runs", "Periodic job runs, by job and outcome", labels=["job", "status"])
        deliveries = GaugeMetricFamily("grids_notification_deliveries", "Notification deliveries by channel and "
                                       "status", labels=["channel", "status"])
        failures = CounterMetricFamily("grids_notification_delivery_failures", "Failed delivery attempts (each "
                                       "is retried with back-off)", labels=["channel"])
        workers = GaugeMetricFamily("grids_job_workers", "Job workers with a heartbeat in the last minute")
        with self.app.app_context():
            try:
                for name, total, failed in db.session.execute(text("select name, runs, failures from job_stats")):
                    runs.add_metric([name, "succeeded"], total - failed)
                    runs.add_metric([name, "failed"], failed)
                failed_by_channel: dict[str, int] = {}
                for channel, status, count, failed in db.session.execute(text("""
                        select channel, status, count(*), sum(failures) from notification_deliveries
                        group by channel, status""")):
                    deliveries.add_metric([channel, status], count)
                    failed_by_channel[channel] = failed_by_channel.get(channel, 0) + int(failed or 0)
                for channel, failed in failed_by_channel.items():
                    failures.add_metric([channel], failed)
                workers.add_metric([], db.session.execute(text(
                    "select count(*) from procrastinate_workers where last_heartbeat > now() - interval '1 minute'"
                )).scalar_one())
            except Exception:  # the database is down or not migrated: /metrics still answers
                return
            finally:
                db.session.remove()
        yield from (runs, deliveries, failures, workers)


def count_sync_results(app: Flask, results: list[dict]) -> None:
    """Add a sync's outcomes to the counter."""
    counter = app.extensions["grids_metrics"]["sync_results"]
    for result in results:
        counter.labels(status=result["status"]).inc()

"""What each periodic job did last, and how often it ran and failed (for GET /jobs and /metrics)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.dialects.postgresql import TIMESTAMP
from sqlalchemy.orm import Mapped, mapped_column

from core.extensions import db


class JobStats(db.Model):
    """One row per job name, updated by the worker after every run (procrastinate keeps the queue itself)."""

    __tablename__ = "job_stats"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The schedule the running worker uses (written when it starts; it may differ from the web's default).
    schedule: Mapped[str | None] = mapped_column(String(64))
    runs: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    failures: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    last_run_at: Mapped[datetime | None] = mapped_column(TIMESTAMP(timezone=True))
    last_status: Mapped[str | None] = mapped_column(String(12))
    last_duration_ms: Mapped[int | None] = mapped_column(Integer)
    # The exception's class name only: messages may carry data.
    last_error: Mapped[str | None] = mapped_column(String(120))

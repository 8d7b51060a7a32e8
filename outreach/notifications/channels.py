"""The two outside channels: Web Push (pywebpush, VAPID) and text messages (a provider adapter).

Each send answers an outcome: ``sent``, ``gone`` (the push subscription no longer exists: drop it),
or raises :class:`TransientError` (try again later with back-off).
"""
from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from flask import Flask
from pywebpush import WebPusher

from core.personal_data import mask_phone
from outreach.notifications.keys import vapid

VAPID_LIFETIME = 12 * 3600  # seconds a signed VAPID token is valid (RFC 8292 allows up to 24 h)


class TransientError(Exception):
    """The channel failed in a way worth retrying (network, 429, 5xx)."""


class PushSender:
    """Sends encrypted Web Push messages; the VAPID token is signed once per push service and reused."""

    def __init__(self, app: Flask):
        self.key = vapid(app)
        self.subject = app.config["GRIDS_VAPID_SUBJECT"]
        self.timeout = app.config["GRIDS_PUSH_TIMEOUT_SECONDS"]
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=64)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self._tokens: dict[str, tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()

    def _authorization(self, endpoint: str) -> dict[str, str]:
        parts = urlsplit(endpoint)
        audience = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        with self._lock:
            cached = self._tokens.get(audience)
            if cached and cached[0] - now > 600:
                return cached[1]
            expires = int(now) + VAPID_LIFETIME
            headers = self.key.sign({"aud": audience, "exp": expires, "sub": self.subject})
            self._tokens[audience] = (expires, headers)
            return headers

    def send(self, subscription: dict[str, Any], payload: dict[str, Any], urgent: bool) -> str:
        """Encrypt ``payload`` for the subscription (aes128gcm) and post it to its push service."""
        headers = {**self._authorization(subscription["endpoint"]), "Urgency": "high" if urgent else "normal",
                   # One topic per notification: a push service keeps only the newest of a topic.
                   "Topic": f"n{payload['id']}"}
        info = {"endpoint": subscription["endpoint"], "keys": {"p256dh": subscription["p256dh"],
                                                                "auth": subscription["auth"]}}
        body = json.dumps(payload, ensure_ascii=False).encode()
        try:
            response = WebPusher(info, requests_session=self.session).send(
                body, headers=headers, ttl=24 * 3600, content_encoding="aes128gcm", timeout=self.timeout)
        except requests.RequestException as error:
            raise TransientError(type(error).__name__) from error
        if response.status_code in (404, 410):
            return "gone"
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"push service answered {response.status_code}")
        if response.status_code >= 400:  # our request is wrong (payload, key): retrying will not help
            return f"rejected {response.status_code}"
        return "sent"


class FakeSms:
    """The local stand-in for the city's SMS gateway (``make run``, tests): appends each message it is
    asked to send to a JSON-lines file, with the number masked."""

    def __init__(self, app: Flask):
        self.path = Path(app.config["GRIDS_SMS_FAKE_FILE"])
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def send(self, phone: str, text: str, reference: str) -> str:
        """Record the message; its reference lets the receiver drop repeats."""
        line = json.dumps({"at": datetime.now(UTC).isoformat(), "to": mask_phone(phone), "text": text,
                           "reference": reference}, ensure_ascii=False)
        with self._lock, open(self.path, "a", encoding="utf-8") as output:
            output.write(line + "\n")
            output.flush()
        return "sent"


class HttpSms:
    """The city's SMS gateway over HTTP: POST ``GRIDS_SMS_URL`` with ``{"to", "text", "reference"}`` and a
    bearer token; the reference (one per notification) lets the gateway drop repeats."""

    def __init__(self, app: Flask):
        self.url = app.config["GRIDS_SMS_URL"]
        self.token = app.config["GRIDS_SMS_TOKEN"]
        self.timeout = app.config["GRIDS_PUSH_TIMEOUT_SECONDS"]
        if not self.url:
            raise RuntimeError("GRIDS_SMS_URL must be set when GRIDS_SMS_PROVIDER=http")
        self.session = requests.Session()

    def send(self, phone: str, text: str, reference: str) -> str:
        """Hand the message to the gateway."""
        try:
            response = self.session.post(self.url, json={"to": phone, "text": text, "reference": reference},
                                         headers={"Authorization": f"Bearer {self.token}"} if self.token else {},
                                         timeout=self.timeout)
        except requests.RequestException as error:
            raise TransientError(type(error).__name__) from error
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientError(f"gateway answered {response.status_code}")
        if response.status_code >= 400:
            return f"rejected {response.status_code}"
        return "sent"


def sms_provider(app: Flask):
    """The configured SMS adapter (``GRIDS_SMS_PROVIDER``: fake or http)."""
    providers = {"fake": FakeSms, "http": HttpSms}
    name = app.config["GRIDS_SMS_PROVIDER"]
    if name not in providers:
        raise RuntimeError(f"GRIDS_SMS_PROVIDER must be one of {', '.join(providers)}")
    return providers[name](app)

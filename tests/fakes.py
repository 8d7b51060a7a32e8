"""Local stand-ins for outside services the worker talks to: a Web Push service (records each request,
checks its VAPID signature, decrypts it like a browser would) and readers of the fake SMS gateway."""
from __future__ import annotations

import base64
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    """base64url, padding optional."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Browser:
    """A browser's push subscription: its own P-256 key pair and auth secret, as PushManager makes them."""

    def __init__(self, endpoint: str):
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)
        self.endpoint = endpoint

    def subscription(self) -> dict:
        """The JSON a page posts to /me/push-subscriptions (PushSubscription.toJSON())."""
        point = self.private_key.public_key().public_bytes(serialization.Encoding.X962,
                                                           serialization.PublicFormat.UncompressedPoint)
        return {"endpoint": self.endpoint, "expirationTime": None,
                "keys": {"p256dh": b64url(point), "auth": b64url(self.auth)}}

    def decrypt(self, body: bytes) -> dict:
        """Decrypt an aes128gcm push message (RFC 8291) like the browser would; its JSON."""
        return json.loads(http_ece.decrypt(body, private_key=self.private_key, auth_secret=self.auth,
                                           version="aes128gcm"))


def verify_vapid(authorization: str, server_public_key: str, endpoint: str) -> dict:
    """Check a ``vapid t=…,k=…`` header (RFC 8292): the key is the server's, the ES256 signature verifies,
    the audience is the push service's origin and the token has not expired; its claims."""
    scheme, _, params = authorization.partition(" ")
    assert scheme.lower() == "vapid", authorization
    parts = dict(item.split("=", 1) for item in params.split(","))
    assert parts["k"] == server_public_key
    header_b64, claims_b64, signature_b64 = parts["t"].split(".")
    header = json.loads(unb64url(header_b64))
    assert header["alg"] == "ES256"
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(server_public_key))
    raw = unb64url(signature_b64)
    signature = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(signature, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))  # raises if bad
    claims = json.loads(unb64url(claims_b64))
    origin = urlsplit(endpoint)
    assert claims["aud"] == f"{origin.scheme}://{origin.netloc}"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert claims["sub"].startswith(("mailto:", "https:"))
    return claims


class FakePushService:
    """An HTTP push service on 127.0.0.1: records every request (path, headers, body, arrival time);
    answers 201, or what ``status`` says for a path; ``delay`` seconds per request."""

    def __init__(self, delay: float = 0.0):
        self.requests: list[dict] = []
        self.status: dict[str, int] = {}
        self.delay = delay
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if service.delay:
                    time.sleep(service.delay)
                with service.arrived:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    service.requests.append({"path": self.path, "headers": headers, "body": body,
                                             "at": time.time()})
                    service.arrived.notify_all()
                    code = service.status.get(self.path, 201)
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        """The service's origin."""
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def browser(self, name: str) -> Browser:
        """A new browser subscribed at ``/push/<name>``."""
        return Browser(f"{self.base}/push/{name}")

    def received(self, path: str | None = None) -> list[dict]:
        """Requests so far (to ``path`` only, when given)."""
        with self.lock:
            return [r for r in self.requests if path is None or r["path"] == path]

    def wait_for(self, count: int, path: str | None = None, timeout: float = 20) -> list[dict]:
        """Wait until ``count`` requests (to ``path``) arrived; them."""
        ends = time.monotonic() + timeout
        with self.arrived:
            while len([r for r in self.requests if path is None or r["path"] == path]) < count:
                left = ends - time.monotonic()
                if left <= 0:
                    break
                self.arrived.wait(left)
        return self.received(path)

    def __enter__(self) -> FakePushService:
        self.thread.start()
        return self

    def __exit__(self, *_exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def sms_sent(path: str | Path) -> list[dict]:
    """What the fake SMS gateway recorded (one JSON object a line)."""
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

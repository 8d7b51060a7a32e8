"""Request bodies sent with ``Content-Encoding: gzip`` (the field app's visit batches).

A batch of 500 visits is about 150 KB of JSON and gzips to a tenth of that; on a village's slow
uplink that is seconds saved per sync. The WSGI middleware inflates the body before Flask reads it,
never past the configured body limit (a small gzip bomb answers 413 like a large body), and a body
that is not valid gzip answers 400. Other encodings are left to the app (which answers 415 for
what it cannot read).
"""
from __future__ import annotations

import io
import json
import zlib
from collections.abc import Callable, Iterable

CHUNK = 64 * 1024


def _error(start_response: Callable, status: str, message: str) -> Iterable[bytes]:
    code, _, reason = status.partition(" ")
    body = json.dumps({"code": int(code), "status": reason, "message": message}).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class GzipRequests:
    """Inflate gzip request bodies up to ``limit`` bytes (the app's MAX_CONTENT_LENGTH)."""

    def __init__(self, app: Callable, limit: int):
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("HTTP_CONTENT_ENCODING", "").strip().lower() != "gzip":
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > self.limit:
            return _error(start_response, "413 Request Entity Too Large", "The request body is too large.")
        stream = environ["wsgi.input"]
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        body = bytearray()
        remaining = length
        try:
            while remaining > 0:
                chunk = stream.read(min(CHUNK, remaining))
                if not chunk:
                    break
                remaining -= len(chunk)
                body += inflater.decompress(chunk, self.limit + 1 - len(body))
                if len(body) > self.limit or inflater.unconsumed_tail:
                    return _error(start_response, "413 Request Entity Too Large", "The request body is too large.")
            body += inflater.flush()
        except zlib.error:
            return _error(start_response, "400 Bad Request", "The body is not valid gzip.")
        if len(body) > self.limit or not inflater.eof:
            if len(body) > self.limit:
                return _error(start_response, "413 Request Entity Too Large", "The request body is too large.")
            return _error(start_response, "400 Bad Request", "The body is not valid gzip.")
        environ = dict(environ, CONTENT_LENGTH=str(len(body)))
        environ["wsgi.input"] = io.BytesIO(bytes(body))
        environ.pop("HTTP_CONTENT_ENCODING", None)
        return self.app(environ, start_response)

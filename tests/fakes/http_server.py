"""What every threaded fake HTTP service in ``tests/fakes`` shares: serving on 127.0.0.1, reading request bodies
(gzipped or not) and replying."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler], *, name: str) -> Iterator[str]:
    """Serve ``handler`` on a free port of 127.0.0.1 in a thread; yields the base URL, stops on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name=name, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    """The request's body, decompressed when the client gzipped it (as the Sentry and Langfuse SDKs may)."""
    body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
    return gzip.decompress(body) if handler.headers.get("Content-Encoding") == "gzip" else body


def send_bytes(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    content_type: str,
    headers: Mapping[str, str] | None = None,
    *,
    close: bool = False,
) -> None:
    """Reply with ``body`` as is. ``close``: end the connection too, so that no handler thread outlives the fake
    when the client keeps connections open."""
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    if close:
        handler.send_header("Connection", "close")
        handler.close_connection = True
    handler.end_headers()
    handler.wfile.write(body)


def send_json(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: object,
    headers: Mapping[str, str] | None = None,
    *,
    close: bool = False,
) -> None:
    """Reply with ``body`` as JSON (``close`` as for :func:`send_bytes`)."""
    send_bytes(handler, status, json.dumps(body).encode(), "application/json", headers, close=close)

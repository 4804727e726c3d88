"""A fake website on 127.0.0.1 for the website connector: generated pages linking to each other, a sitemap index,
robots.txt, ETag / Last-Modified with 304s, a redirect, a duplicate page with a canonical link, pages that can be
edited or deleted between syncs, and failures to inject. Every request is recorded.

Layout (``N`` = ``pages``), all under ``/docs/`` unless said otherwise:

- ``/docs/``: the index; links to every ``page-i.html``, to ``deep/level-1.html``, to ``private/secret.html``
  (robots.txt disallows ``/docs/private/``), to ``old-page.html`` (301 → ``page-3.html``), to
  ``page-1-print.html`` (a copy of ``page-1.html`` naming it canonical), and to things the crawler must ignore:
  ``/blog/post.html`` (out of the path prefix), another host, ``mailto:``, ``logo.png``, and ``page-2.html`` with a
  fragment and with tracking parameters (duplicates once normalised).
- ``page-i.html``: links to ``page-(i+1).html`` and back to the index.
- ``deep/level-k.html``, k = 1…8: a chain, ``level-k`` at depth k from the index.
- ``/sitemap.xml``: a sitemap index naming ``/sitemap-pages.xml``, which lists the index and every ``page-i.html``
  (with ``<lastmod>`` when ``lastmod=True``).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from tests.fakes.http_server import send_bytes, serving

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
OUT_OF_SCOPE = ("/blog/post.html",)
PRIVATE = "/docs/private/secret.html"
REDIRECT = "/docs/old-page.html"
DUPLICATE = "/docs/page-1-print.html"
DEEP_LEVELS = 8


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    """With its query string, as sent."""
    if_none_match: str | None
    if_modified_since: str | None
    status: int
    body_bytes: int


@dataclass
class Page:
    html: str
    revision: int = 0
    """Bumped by every edit: moves Last-Modified on by a minute."""

    @property
    def body(self) -> bytes:
        return self.html.encode()

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'

    @property
    def modified(self) -> datetime:
        return EPOCH + timedelta(minutes=self.revision)


@dataclass
class Failure:
    status: int
    headers: dict[str, str]


@dataclass
class FakeWebsite:
    """The site's state; tests edit it between syncs. ``base_url`` is set once it serves."""

    pages: int = 12
    lastmod: bool = False
    sitemap: bool = True
    etags: bool = True
    last_modified: bool = True
    base_url: str = ""
    content: dict[str, Page] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.content["/docs/"] = Page(_index_html(self.pages))
        for number in range(self.pages):
            following = f"page-{(number + 1) % self.pages}.html"
            self.content[f"/docs/page-{number}.html"] = Page(
                _html(f"Page {number}", f"Page {number} explains topic {number}.", [following, "./"])
            )
        for level in range(1, DEEP_LEVELS + 1):
            self.content[f"/docs/deep/level-{level}.html"] = Page(
                _html(f"Level {level}", f"Level {level} of the deep chain.", [f"level-{level + 1}.html"])
            )
        self.content[PRIVATE] = Page(_html("Secret", "Robots keep this out.", []))
        self.content[OUT_OF_SCOPE[0]] = Page(_html("Blog", "Outside the docs.", []))
        page_1 = self.content["/docs/page-1.html"].html
        self.content[DUPLICATE] = Page(
            page_1.replace("<head>", '<head><link rel="canonical" href="/docs/page-1.html">')
        )

    # What tests change between syncs.

    def edit(self, path: str, text: str) -> None:
        with self._lock:
            page = self.content[path]
            page.html = page.html.replace("</main>", f"<p>{text}</p></main>")
            page.revision += 1

    def delete(self, path: str) -> None:
        with self._lock:
            del self.content[path]

    def fail(self, path: str, status: int, headers: dict[str, str] | None = None, *, times: int = 1) -> None:
        """Answer the next ``times`` requests for ``path`` with ``status`` (and ``headers``) before serving it."""
        with self._lock:
            self.failures.setdefault(path, []).extend(Failure(status, headers or {}) for _ in range(times))

    # What tests read.

    def url(self, path: str) -> str:
        return self.base_url + path

    def allowed_pages(self, *, max_depth: int = 5) -> set[str]:
        """The URLs a crawl from ``/docs/`` should list: the index, every page, the chain up to ``max_depth``."""
        paths = ["/docs/", *(f"/docs/page-{n}.html" for n in range(self.pages))]
        paths += [f"/docs/deep/level-{level}.html" for level in range(1, min(max_depth, DEEP_LEVELS) + 1)]
        return {self.url(path) for path in paths if path in self.content}

    def bodies(self, *, since: int = 0) -> list[Request]:
        """Page bodies sent (200 GETs of pages, robots.txt and sitemaps left out) from request number ``since``."""
        with self._lock:
            return [
                request
                for request in self.requests[since:]
                if request.status == 200 and request.body_bytes and request.path.startswith(("/docs", "/blog"))
            ]

    def paths_requested(self, *, since: int = 0) -> list[str]:
        with self._lock:
            return [request.path for request in self.requests[since:]]

    def mark(self) -> int:
        """The number of requests so far: pass it as ``since`` to look only at what follows."""
        with self._lock:
            return len(self.requests)

    # Serving.

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path
        route = urlsplit(path).path
        with self._lock:
            queued = self.failures.get(route)
            failure = queued.pop(0) if queued else None
            page = self.content.get(route)
            page = Page(page.html, page.revision) if page else None
        if failure is not None:
            status, headers, body, kind = failure.status, failure.headers, b"failure", "text/plain"
        elif route == "/robots.txt":
            status, headers, kind = 200, {}, "text/plain"
            body = b"User-agent: *\nDisallow: /docs/private/\n"
        elif route == "/sitemap.xml" and self.sitemap:
            status, headers, kind = 200, {}, "application/xml"
            body = _sitemap_index(self.url("/sitemap-pages.xml"))
        elif route == "/sitemap-pages.xml" and self.sitemap:
            status, headers, kind, body = 200, {}, "application/xml", self._sitemap_pages()
        elif route == REDIRECT:
            status, headers, body, kind = 301, {"Location": "/docs/page-3.html"}, b"", "text/plain"
        elif page is None:
            status, headers, body, kind = 404, {}, b"not found", "text/plain"
        else:
            status, headers, body, kind = self._page(handler, page)
        self._record(handler, status, len(body))
        send_bytes(handler, status, body, kind, headers)

    def _page(self, handler: BaseHTTPRequestHandler, page: Page) -> tuple[int, dict[str, str], bytes, str]:
        headers: dict[str, str] = {}
        if self.etags:
            headers["ETag"] = page.etag
        if self.last_modified:
            headers["Last-Modified"] = format_datetime(page.modified, usegmt=True)
        if_none_match = handler.headers.get("If-None-Match")
        if_modified_since = handler.headers.get("If-Modified-Since")
        if self.etags and if_none_match is not None:
            unchanged = page.etag in {tag.strip() for tag in if_none_match.split(",")} or if_none_match == "*"
        elif self.last_modified and if_modified_since is not None:
            unchanged = page.modified <= parsedate_to_datetime(if_modified_since)
        else:
            unchanged = False
        if unchanged:
            return 304, headers, b"", "text/html; charset=utf-8"
        return 200, headers, page.body, "text/html; charset=utf-8"

    def _sitemap_pages(self) -> bytes:
        entries = []
        with self._lock:
            listed = [(path, page) for path, page in self.content.items() if path == "/docs/" or "/page-" in path]
        for path, page in listed:
            if path == DUPLICATE:
                continue
            lastmod = f"<lastmod>{page.modified.isoformat()}</lastmod>" if self.lastmod else ""
            entries.append(f"<url><loc>{self.url(path)}</loc>{lastmod}</url>")
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' + "".join(entries) + "</urlset>"
        ).encode()

    def _record(self, handler: BaseHTTPRequestHandler, status: int, body_bytes: int) -> None:
        request = Request(
            method=handler.command,
            path=handler.path,
            if_none_match=handler.headers.get("If-None-Match"),
            if_modified_since=handler.headers.get("If-Modified-Since"),
            status=status,
            body_bytes=body_bytes,
        )
        with self._lock:
            self.requests.append(request)


@contextmanager
def serving_website(site: FakeWebsite) -> Iterator[FakeWebsite]:
    """Serve ``site`` on 127.0.0.1 until the block ends; ``site.base_url`` is its address."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real sites: the crawl reuses its connections
        disable_nagle_algorithm = True  # headers and body go in two writes: no 40 ms delayed-ACK stall each

        def do_GET(self) -> None:
            site.respond(self)

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    with serving(Handler, name="fake-website") as base_url:
        site.base_url = base_url
        yield site


def _html(title: str, text: str, links: list[str]) -> str:
    anchors = "".join(f'<li><a href="{link}">{link}</a></li>' for link in links)
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body>"
        f"<nav><ul>{anchors}</ul></nav><main><h1>{title}</h1><p>{text}</p></main></body></html>"
    )


def _index_html(pages: int) -> str:
    links = [f"page-{number}.html" for number in range(pages)]
    links += [
        "deep/level-1.html",
        "private/secret.html",
        "old-page.html",
        "page-1-print.html",
        "/blog/post.html",
        "http://docs.example.invalid/docs/page-0.html",
        "mailto:docs@example.invalid",
        "logo.png",
        "page-2.html#install",
        "page-2.html?utm_source=newsletter&utm_medium=email",
    ]
    return _html("Docs", "The documentation's index.", links)


def _sitemap_index(pages_url: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<sitemap><loc>{pages_url}</loc></sitemap></sitemapindex>"
    ).encode()

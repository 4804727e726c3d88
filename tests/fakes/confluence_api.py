"""A fake of Confluence Cloud's REST API v2 on 127.0.0.1, for the Confluence connector: the endpoints it uses, with
the shapes the API documents.

- ``GET /wiki/api/v2/spaces?keys=KEY``: ``{"results": [space…], "_links": {…}}``; a space the account may not see
  is simply not among the results, as with the real API.
- ``GET /wiki/api/v2/spaces/{id}/pages?limit=&cursor=&status=``: pages without bodies, sorted by id, at most
  ``max_limit`` at a time (the real API caps ``limit`` at 250); ``_links.next`` (and a ``Link`` header) hold the
  next page's relative URL with an opaque cursor while more remain.
- ``GET /wiki/api/v2/pages/{id}?body-format=storage``: one page with ``body.storage.value``.

Every request must carry HTTP Basic credentials (the email and API token given); otherwise 401. Errors have the v2
body ``{"errors": [{"status", "code", "title", "detail"}]}``. Pages can be added, edited (the version number goes
up), renamed, moved and deleted between syncs; failures can be injected per path (a status and headers, such as a
429 with ``Retry-After``), and every request is recorded.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from tests.fakes.http_server import send_json, serving

API = "/wiki/api/v2"
_ERROR_CODES = {400: "INVALID_REQUEST_PARAMETER", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND"}
_ERROR_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests"}


@dataclass
class FakePage:
    id: str
    title: str
    body: str
    """The storage format (XHTML with ``ac:`` macros)."""
    parent_id: str | None = None
    version: int = 1
    status: str = "current"


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    """With its query string, as sent."""
    authorized: bool
    status: int


@dataclass
class Failure:
    status: int
    headers: dict[str, str]


@dataclass
class FakeConfluence:
    """One site with one space; tests edit it between syncs. ``base_url`` is set once it serves."""

    email: str = "docs-bot@example.test"
    token: str = "atlassian-api-token-0123456789"
    space_key: str = "ENG"
    space_id: str = "98304"
    homepage_id: str = "1000"
    hidden: bool = False
    """The account may not see the space: the lookup by key finds nothing."""
    max_limit: int = 250
    base_url: str = ""
    pages: dict[str, FakePage] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.pages.setdefault(
            self.homepage_id, FakePage(self.homepage_id, "Engineering", "<p>Welcome to the engineering space.</p>")
        )

    # What tests change between syncs.

    def add(self, page_id: str, title: str, body: str, *, parent: str | None = None) -> None:
        with self._lock:
            self.pages[page_id] = FakePage(page_id, title, body, parent_id=parent or self.homepage_id)

    def edit(self, page_id: str, body: str) -> None:
        with self._lock:
            page = self.pages[page_id]
            page.body = body
            page.version += 1

    def rename(self, page_id: str, title: str) -> None:
        with self._lock:
            page = self.pages[page_id]
            page.title = title
            page.version += 1

    def move(self, page_id: str, parent: str) -> None:
        """Moving a page creates no version, as in Confluence."""
        with self._lock:
            self.pages[page_id].parent_id = parent

    def delete(self, page_id: str) -> None:
        """To the trash: no longer current, and 404 to readers."""
        with self._lock:
            self.pages[page_id].status = "trashed"

    def fail(self, path: str, status: int, headers: dict[str, str] | None = None, *, times: int = 1) -> None:
        """Answer the next ``times`` requests for ``path`` (no query) with ``status`` and ``headers``."""
        with self._lock:
            self.failures.setdefault(path, []).extend(Failure(status, headers or {}) for _ in range(times))

    # What tests read.

    def webui(self, page_id: str) -> str:
        page = self.pages[page_id]
        return f"/spaces/{self.space_key}/pages/{page.id}/{quote(page.title.replace(' ', '+'), safe='+')}"

    def link(self, page_id: str) -> str:
        return f"{self.base_url}/wiki{self.webui(page_id)}"

    def current(self) -> list[str]:
        with self._lock:
            return sorted(page.id for page in self.pages.values() if page.status == "current")

    def mark(self) -> int:
        with self._lock:
            return len(self.requests)

    def paths(self, *, since: int = 0) -> list[str]:
        with self._lock:
            return [request.path for request in self.requests[since:]]

    def bodies(self, *, since: int = 0) -> list[str]:
        """The ids of the pages whose body was sent, from request number ``since``."""
        with self._lock:
            return [
                urlsplit(request.path).path.removeprefix(f"{API}/pages/")
                for request in self.requests[since:]
                if request.status == 200 and urlsplit(request.path).path.startswith(f"{API}/pages/")
            ]

    def listings(self, *, since: int = 0) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests[since:] if urlsplit(r.path).path.endswith("/pages")]

    # Serving.

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        authorized = (
            handler.headers.get("Authorization")
            == "Basic " + base64.b64encode(f"{self.email}:{self.token}".encode()).decode()
        )
        with self._lock:
            queued = self.failures.get(parts.path)
            failure = queued.pop(0) if queued else None
        headers: dict[str, str] = {}
        if failure is not None:
            status, headers, body = failure.status, failure.headers, _error(failure.status)
        elif not authorized:
            status, body = 401, _error(401)
        else:
            status, body, headers = self._route(parts.path, query)
        with self._lock:
            self.requests.append(Request(path=handler.path, authorized=authorized, status=status))
        send_json(handler, status, body, headers)

    def _route(self, path: str, query: dict[str, str]) -> tuple[int, object, dict[str, str]]:
        if path == f"{API}/spaces":
            return 200, self._spaces(query), {}
        if path == f"{API}/spaces/{self.space_id}/pages" and not self.hidden:
            return self._listing(query)
        if path.startswith(f"{API}/pages/"):
            page_id = path.removeprefix(f"{API}/pages/")
            with self._lock:
                page = self.pages.get(page_id)
                found = page is not None and page.status == "current" and not self.hidden
                result = self._page(page, body=query.get("body-format") == "storage") if page and found else None
            return (200, result, {}) if result is not None else (404, _error(404), {})
        return 404, _error(404), {}

    def _spaces(self, query: dict[str, str]) -> object:
        keys = set(query.get("keys", "").split(","))
        results = []
        if self.space_key in keys and not self.hidden:
            results.append(
                {
                    "id": self.space_id,
                    "key": self.space_key,
                    "name": "Engineering",
                    "type": "global",
                    "status": "current",
                    "homepageId": self.homepage_id,
                    "_links": {"webui": f"/spaces/{self.space_key}"},
                }
            )
        return {"results": results, "_links": {"base": f"{self.base_url}/wiki"}}

    def _listing(self, query: dict[str, str]) -> tuple[int, object, dict[str, str]]:
        try:
            limit = min(int(query.get("limit", "25")), self.max_limit)
            start = int(base64.urlsafe_b64decode(query["cursor"]).decode()) if "cursor" in query else 0
        except ValueError:
            return 400, _error(400), {}
        wanted = set(query.get("status", "current,archived").split(","))
        with self._lock:
            listed = sorted((p for p in self.pages.values() if p.status in wanted), key=lambda p: int(p.id))
            results = [self._page(page, body=False) for page in listed[start : start + limit]]
        body: dict[str, object] = {"results": results, "_links": {"base": f"{self.base_url}/wiki"}}
        headers: dict[str, str] = {}
        if start + limit < len(listed):
            cursor = base64.urlsafe_b64encode(str(start + limit).encode()).decode()
            following = f"{API}/spaces/{self.space_id}/pages?{urlencode({**query, 'cursor': cursor})}"
            body["_links"] = {"next": following, "base": f"{self.base_url}/wiki"}
            headers["Link"] = f'<{following}>; rel="next", <{self.base_url}/wiki>; rel="base"'
        return 200, body, headers

    def _page(self, page: FakePage, *, body: bool) -> dict[str, object]:
        shown: dict[str, object] = {
            "id": page.id,
            "status": page.status,
            "title": page.title,
            "spaceId": self.space_id,
            "parentId": page.parent_id,
            "parentType": "page" if page.parent_id else None,
            "authorId": "557058:f00d",
            "createdAt": "2025-01-01T00:00:00.000Z",
            "version": {"number": page.version, "message": "", "minorEdit": False, "authorId": "557058:f00d"},
            "_links": {"webui": self.webui(page.id), "editui": f"/pages/resumedraft.action?draftId={page.id}"},
        }
        if body:
            shown["body"] = {"storage": {"value": page.body, "representation": "storage"}}
        return shown


def _error(status: int) -> object:
    return {
        "errors": [
            {
                "status": status,
                "code": _ERROR_CODES.get(status, str(status)),
                "title": _ERROR_TITLES.get(status, "Error"),
                "detail": None,
            }
        ]
    }


@contextmanager
def serving_confluence(site: FakeConfluence) -> Iterator[FakeConfluence]:
    """Serve ``site`` on 127.0.0.1 until the block ends; ``site.base_url`` is its address."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            site.respond(self)

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    with serving(Handler, name="fake-confluence") as base_url:
        site.base_url = base_url
        yield site


def storage_page(title: str, text: str) -> str:
    """A small body in the storage format: a heading and a paragraph."""
    return f"<h2>{title}</h2><p>{text}</p>"

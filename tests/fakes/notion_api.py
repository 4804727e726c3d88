"""A fake of Notion's API (version 2022-06-28) on 127.0.0.1 for the Notion connector, in Notion's documented shapes.

Endpoints: ``POST /v1/search`` (pages or databases, by the ``object`` filter), ``POST /v1/databases/{id}/query``,
``GET /v1/blocks/{id}/children`` and ``GET /v1/pages/{id}``. Every request must carry ``Authorization: Bearer
<token>`` (401 ``unauthorized`` otherwise) and ``Notion-Version: 2022-06-28`` (400 ``missing_version``). Lists are
paginated with ``page_size`` (at most 100) and ``start_cursor`` / ``next_cursor`` / ``has_more``; ``limit`` makes
every answer shorter still, as Notion may, so that tests cross pages with a few items. Errors come as Notion's
``{"object": "error", "status", "code", "message"}``.

Tests shape the workspace (pages, nested blocks, databases and their rows), change it between syncs (edit, trash,
unshare; each edit moves ``last_edited_time`` on by a minute, Notion's rounding), hide a page from search (not yet
indexed) or a block's children (shared from a page the integration cannot read), and inject failures (with
``Retry-After``) per route. Every request is recorded.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.http_server import read_body, send_json, serving

NOTION_VERSION = "2022-06-28"
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
USER = {"object": "user", "id": "6f3b2c1a-0000-4000-8000-000000000001"}
MAX_PAGE_SIZE = 100


def new_id() -> str:
    return str(uuid.uuid4())


def notion_time(moment: datetime) -> str:
    """As Notion writes times: UTC, milliseconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def rich_text(
    content: str,
    *,
    bold: bool = False,
    italic: bool = False,
    strikethrough: bool = False,
    code: bool = False,
    link: str | None = None,
) -> dict[str, Any]:
    """One run of text as Notion sends it."""
    return {
        "type": "text",
        "text": {"content": content, "link": {"url": link} if link else None},
        "annotations": {
            "bold": bold,
            "italic": italic,
            "strikethrough": strikethrough,
            "underline": False,
            "code": code,
            "color": "default",
        },
        "plain_text": content,
        "href": link,
    }


def runs(*parts: str | dict[str, Any]) -> list[dict[str, Any]]:
    """Rich text from plain strings and runs made by :func:`rich_text`."""
    return [rich_text(part) if isinstance(part, str) else part for part in parts]


@dataclass
class FakeBlock:
    type: str
    data: dict[str, Any]
    children: list[FakeBlock] = field(default_factory=list)
    id: str = field(default_factory=new_id)
    unreadable: bool = False
    """Its children answer 404, as a synced block's do when the page it comes from is not shared."""

    def json(self, parent: dict[str, Any], edited: datetime) -> dict[str, Any]:
        return block_json(
            self.type, self.data, block_id=self.id, parent=parent, edited=edited, has_children=bool(self.children)
        )


def block_json(
    kind: str,
    data: dict[str, Any],
    *,
    block_id: str | None = None,
    parent: dict[str, Any] | None = None,
    edited: datetime = EPOCH,
    has_children: bool = False,
) -> dict[str, Any]:
    """A block object as ``GET /v1/blocks/{id}/children`` lists it."""
    return {
        "object": "block",
        "id": block_id or new_id(),
        "parent": parent or {"type": "page_id", "page_id": new_id()},
        "created_time": notion_time(EPOCH),
        "last_edited_time": notion_time(edited),
        "created_by": USER,
        "last_edited_by": USER,
        "has_children": has_children,
        "archived": False,
        "in_trash": False,
        "type": kind,
        kind: data,
    }


def block(kind: str, *text: str | dict[str, Any], children: list[FakeBlock] | None = None, **data: Any) -> FakeBlock:
    """A block of ``kind`` whose ``rich_text`` is ``text`` (``runs``), with more of its fields in ``data``."""
    return FakeBlock(kind, {"rich_text": runs(*text), "color": "default", **data}, children or [])


def paragraph(*text: str | dict[str, Any]) -> FakeBlock:
    return block("paragraph", *text)


def heading(level: int, text: str) -> FakeBlock:
    return block(f"heading_{level}", text, is_toggleable=False)


def code(source: str, language: str) -> FakeBlock:
    return FakeBlock("code", {"rich_text": runs(source), "caption": [], "language": language})


def table(*rows: list[str]) -> FakeBlock:
    width = max(len(row) for row in rows)
    cells = [FakeBlock("table_row", {"cells": [runs(cell) for cell in row]}) for row in rows]
    return FakeBlock("table", {"table_width": width, "has_column_header": True, "has_row_header": False}, cells)


@dataclass
class FakePage:
    id: str
    title: str
    blocks: list[FakeBlock]
    parent: dict[str, Any]
    properties: dict[str, Any] = field(default_factory=dict)
    """Beyond the title: a database row's other properties, in Notion's shapes."""
    edited: datetime = EPOCH
    in_trash: bool = False
    shared: bool = True
    """False: the integration lost access; every request for it answers 404."""
    searchable: bool = True
    """False: search misses it (not indexed yet); it is still read by id and through its database."""

    @property
    def url(self) -> str:
        slug = "-".join("".join(c for c in self.title if c.isalnum() or c == " ").split())
        return f"https://www.notion.so/{slug}-{self.id.replace('-', '')}"

    def json(self) -> dict[str, Any]:
        title_name = "Name" if self.parent["type"] == "database_id" else "title"
        title = {"id": "title", "type": "title", "title": runs(self.title)}
        return {
            "object": "page",
            "id": self.id,
            "created_time": notion_time(EPOCH),
            "last_edited_time": notion_time(self.edited),
            "created_by": USER,
            "last_edited_by": USER,
            "cover": None,
            "icon": None,
            "parent": self.parent,
            "archived": self.in_trash,
            "in_trash": self.in_trash,
            "properties": {**self.properties, title_name: title},
            "url": self.url,
            "public_url": None,
        }


@dataclass
class FakeDatabase:
    id: str
    title: str
    shared: bool = True

    def json(self) -> dict[str, Any]:
        return {
            "object": "database",
            "id": self.id,
            "created_time": notion_time(EPOCH),
            "last_edited_time": notion_time(EPOCH),
            "created_by": USER,
            "last_edited_by": USER,
            "title": runs(self.title),
            "description": [],
            "icon": None,
            "cover": None,
            "properties": {"Name": {"id": "title", "name": "Name", "type": "title", "title": {}}},
            "parent": {"type": "workspace", "workspace": True},
            "url": f"https://www.notion.so/{self.id.replace('-', '')}",
            "public_url": None,
            "archived": False,
            "in_trash": False,
            "is_inline": False,
        }


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    """Without the query."""
    query: dict[str, str]
    body: Any
    status: int
    at: float
    """``time.monotonic()`` when it was answered."""


@dataclass
class Failure:
    status: int
    headers: dict[str, str]
    after: int
    """Requests of the route still to answer normally before this failure."""


_ERROR_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "restricted_resource",
    404: "object_not_found",
    409: "conflict_error",
    429: "rate_limited",
    500: "internal_server_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


class NotionError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _ERROR_CODES.get(status, "internal_server_error")
        self.message = message


@dataclass
class FakeNotion:
    """The workspace as the integration sees it; tests change it between syncs. ``base_url`` is set once served."""

    token: str = "secret_fakeNotionIntegrationToken0123456789"
    limit: int = MAX_PAGE_SIZE
    """At most this many results in one answer, whatever ``page_size`` asked."""
    base_url: str = ""
    pages: dict[str, FakePage] = field(default_factory=dict)
    databases: dict[str, FakeDatabase] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock)

    # Shaping the workspace.

    def add_page(
        self, title: str, blocks: list[FakeBlock], *, parent: FakePage | None = None, edited: datetime = EPOCH
    ) -> FakePage:
        """A page shared with the integration; under ``parent`` it is also a ``child_page`` block there."""
        page_id = new_id()
        where = {"type": "page_id", "page_id": parent.id} if parent else {"type": "workspace", "workspace": True}
        page = FakePage(page_id, title, blocks, where, edited=edited)
        with self._lock:
            self.pages[page_id] = page
            if parent is not None:
                parent.blocks.append(FakeBlock("child_page", {"title": title}, id=page_id))
        return page

    def add_database(self, title: str) -> FakeDatabase:
        database = FakeDatabase(new_id(), title)
        with self._lock:
            self.databases[database.id] = database
        return database

    def add_row(
        self, database: FakeDatabase, title: str, properties: dict[str, Any], blocks: list[FakeBlock]
    ) -> FakePage:
        page = FakePage(new_id(), title, blocks, {"type": "database_id", "database_id": database.id}, properties)
        with self._lock:
            self.pages[page.id] = page
        return page

    # Changing it between syncs.

    def edit(self, page: FakePage, *, append: str | None = None, replace: tuple[str, str] | None = None) -> None:
        """Append a paragraph, or replace text in one of the page's blocks; ``last_edited_time`` moves on a minute."""
        with self._lock:
            if append is not None:
                page.blocks.append(paragraph(append))
            if replace is not None:
                old, new = replace
                found = [
                    run for b in _walk(page.blocks) for run in b.data.get("rich_text", ()) if old in run["plain_text"]
                ]
                assert found, f"no block of {page.title!r} says {old!r}"
                for run in found:
                    run["plain_text"] = run["text"]["content"] = run["plain_text"].replace(old, new)
            page.edited += timedelta(minutes=1)

    def trash(self, page: FakePage) -> None:
        with self._lock:
            page.in_trash = True
            page.edited += timedelta(minutes=1)

    def fail(
        self, route: str, status: int, headers: dict[str, str] | None = None, *, times: int = 1, after: int = 0
    ) -> None:
        """Answer ``times`` requests of ``route`` (a path without query, ``/v1/search``) with ``status``, once
        ``after`` more of them were answered normally."""
        with self._lock:
            queue = self.failures.setdefault(route, [])
            queue.extend(Failure(status, dict(headers or {}), after if i == 0 else 0) for i in range(times))

    # What tests read.

    def mark(self) -> int:
        with self._lock:
            return len(self.requests)

    def since(self, mark: int) -> list[Request]:
        with self._lock:
            return list(self.requests[mark:])

    def bodies(self, *, since: int = 0) -> list[str]:
        """The ids whose children were sent (200 answers of ``GET /v1/blocks/{id}/children``), in order."""
        return [r.path.split("/")[3] for r in self.since(since) if r.path.endswith("/children") and r.status == 200]

    # Serving.

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        raw = read_body(handler) if handler.command == "POST" else b""
        headers: dict[str, str] = {}
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        try:
            if handler.headers.get("Authorization") != f"Bearer {self.token}":
                raise NotionError(401, "API token is invalid.")
            if handler.headers.get("Notion-Version") != NOTION_VERSION:
                raise NotionError(400, "Notion-Version header failed validation.", "missing_version")
            if raw and body is None:
                raise NotionError(400, "Error parsing JSON body.", "invalid_json")
            failure = self._failure(parts.path)
            if failure is not None:
                headers = failure.headers
                raise NotionError(failure.status, f"Injected failure {failure.status}.")
            status, answer = 200, self._route(handler.command, parts.path, query, body)
        except NotionError as error:
            status = error.status
            answer = {
                "object": "error",
                "status": error.status,
                "code": error.code,
                "message": error.message,
                "request_id": new_id(),
            }
        with self._lock:
            self.requests.append(Request(handler.command, parts.path, query, body, status, time.monotonic()))
        send_json(handler, status, answer, headers)

    def _failure(self, route: str) -> Failure | None:
        with self._lock:
            queue = self.failures.get(route)
            if not queue:
                return None
            if queue[0].after > 0:
                queue[0].after -= 1
                return None
            return queue.pop(0)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> dict[str, Any]:
        segments = path.strip("/").split("/")
        with self._lock:
            if method == "POST" and segments == ["v1", "search"]:
                return self._search(body if isinstance(body, dict) else {})
            if method == "POST" and len(segments) == 4 and segments[1] == "databases" and segments[3] == "query":
                return self._query(segments[2], body if isinstance(body, dict) else {})
            if method == "GET" and len(segments) == 4 and segments[1] == "blocks" and segments[3] == "children":
                return self._children(segments[2], query)
            if method == "GET" and len(segments) == 3 and segments[1] == "pages":
                page = self.pages.get(segments[2])
                if page is None or not page.shared:
                    raise NotionError(404, f"Could not find page with ID: {segments[2]}.")
                return page.json()
        raise NotionError(400, f"Invalid request URL: {method} {path}", "invalid_request_url")

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        wanted = body.get("filter")
        if wanted is not None and (
            wanted.get("property") != "object" or wanted.get("value") not in {"page", "database"}
        ):
            raise NotionError(400, "body.filter.value should be `page` or `database`.")
        kind = wanted["value"] if wanted else None
        found: list[dict[str, Any]] = []
        if kind in {None, "page"}:
            found += [p.json() for p in self.pages.values() if p.shared and p.searchable and not p.in_trash]
        if kind in {None, "database"}:
            found += [d.json() for d in self.databases.values() if d.shared]
        return self._listing(found, body.get("start_cursor"), body.get("page_size"), "page_or_database")

    def _query(self, database_id: str, body: dict[str, Any]) -> dict[str, Any]:
        database = self.databases.get(database_id)
        if database is None or not database.shared:
            raise NotionError(
                404,
                f"Could not find database with ID: {database_id}. "
                "Make sure the relevant pages and databases are shared with your integration.",
            )
        rows = [
            p.json()
            for p in self.pages.values()
            if p.parent.get("database_id") == database_id and p.shared and not p.in_trash
        ]
        return self._listing(rows, body.get("start_cursor"), body.get("page_size"), "page_or_database")

    def _children(self, block_id: str, query: dict[str, str]) -> dict[str, Any]:
        page = self.pages.get(block_id)
        if page is not None:
            if not page.shared:
                raise NotionError(404, f"Could not find block with ID: {block_id}.")
            parent, children, edited = {"type": "page_id", "page_id": page.id}, page.blocks, page.edited
        else:
            owner = next(
                ((p, b) for p in self.pages.values() if p.shared for b in _walk(p.blocks) if b.id == block_id), None
            )
            if owner is None or owner[1].unreadable:
                raise NotionError(404, f"Could not find block with ID: {block_id}.")
            parent, children, edited = {"type": "block_id", "block_id": block_id}, owner[1].children, owner[0].edited
        size = int(query["page_size"]) if query.get("page_size", "").isdigit() else None
        listed = [child.json(parent, edited) for child in children]
        return self._listing(listed, query.get("start_cursor"), size, "block")

    def _listing(self, items: list[dict[str, Any]], cursor: Any, page_size: Any, kind: str) -> dict[str, Any]:
        if page_size is not None and (not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE):
            raise NotionError(400, "body.page_size should be a number between 1 and 100.")
        start = 0
        if cursor is not None:
            ids = [item["id"] for item in items]
            if cursor not in ids:
                raise NotionError(400, "body.start_cursor should be a valid cursor.")
            start = ids.index(cursor)
        end = start + min(page_size or MAX_PAGE_SIZE, self.limit)
        more = end < len(items)
        return {
            "object": "list",
            "results": items[start:end],
            "next_cursor": items[end]["id"] if more else None,
            "has_more": more,
            "type": kind,
            kind: {},
        }


def _walk(blocks: list[FakeBlock]) -> Iterator[FakeBlock]:
    for one in blocks:
        yield one
        yield from _walk(one.children)


@contextmanager
def serving_notion(notion: FakeNotion) -> Iterator[FakeNotion]:
    """Serve ``notion`` on 127.0.0.1 until the block ends; ``notion.base_url`` is its address."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            notion.respond(self)

        def do_POST(self) -> None:
            notion.respond(self)

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    with serving(Handler, name="fake-notion") as base_url:
        notion.base_url = base_url
        yield notion

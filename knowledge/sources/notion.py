"""The Notion connector: the pages shared with an integration, each read as Markdown only when it changed.

Listing, one request at a time (Notion allows about three a second and answers 429 with ``Retry-After`` beyond,
which :class:`SourceHttp` waits out):

- ``POST /v1/search`` for pages, 100 at a time along ``next_cursor``: every page shared with the integration, the
  child pages of shared pages and the rows of shared databases among them.
- Search alone is not enough: Notion documents it as "not guaranteed to return everything", indexed with a delay,
  and points at a database's query for its rows. So the shared databases are listed too (search for databases) and
  each one's rows read with ``POST /v1/databases/{id}/query``; a page found both ways is listed once.
- A page stored by the last sync that neither listing shows is asked for by id (``GET /v1/pages/{id}``) before it
  is given up, so that a page the search index misses for a while is not pruned and embedded again; one in the
  trash or no longer shared (404) is not listed, and so is pruned.

Versions: a page's ``last_edited_time``, which the listing gives, so an unchanged page costs no request of its own.
Notion rounds that time down to the minute, so an edit made in the same minute as the version that was read would
not change it: a page read less than a minute (and a margin) after its last edit, by Notion's clock (the ``Date``
of the response that listed it), is stored with an unsettled version, and the next sync reads it again (its
unchanged text then costs no embedding).

Bodies: ``GET /v1/blocks/{id}/children``, 100 at a time, recursing into the blocks whose children belong to the
page (not child pages: those are listed as pages of their own), at most :data:`MAX_DEPTH` levels deep and
:data:`MAX_BLOCKS` blocks a page; :mod:`knowledge.sources.notion_blocks` turns them into Markdown, which the
Markdown loader normalises as it does any file. A database row's properties come first, as ``name: value`` lines.

Errors: 401 fails the run (the token was rejected); a page whose blocks answer 404 or 403 (unshared or deleted since
the listing) is skipped with a note in the log and pruned; a nested block that does is left out of its page; any
other answer fails the run with Notion's code and message.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from core.logging import get_logger
from knowledge.loaders.errors import LoadError
from knowledge.loaders.markdown import load_markdown
from knowledge.sources.connectors import ConnectorKind, RunContext
from knowledge.sources.http import SourceHttp, SourceResponse
from knowledge.sources.notion_blocks import (
    CHILDREN,
    RENDERED_CHILDREN,
    notion_url,
    page_markdown,
    plain_text,
    property_text,
)
from knowledge.sources.protocol import ConnectorError, Fetched, Gone, ItemRef
from knowledge.sources.secrets import TokenRef, reveal

log = get_logger(__name__)

NOTION_VERSION = "2022-06-28"
"""The API version every request names (``Notion-Version``): the shapes this connector reads."""
PAGE_SIZE = 100
"""Results a list request asks for: Notion's maximum."""
MAX_DEPTH = 6
"""Levels of nested blocks read under a page (a list in a toggle in a list…)."""
MAX_BLOCKS = 2000
"""Blocks read from one page; the rest of a longer page is left out (and logged)."""
REQUESTS_PER_PAGE = 20
"""The request budget of a sync per page at most: a page with many nested lists or toggles costs one more each."""
SETTLE_SECONDS = 65.0
"""How long after its (minute-rounded) last edit a page's version is trusted: the minute and some clock margin."""
UNSETTLED = "~unsettled"
"""Appended to a version stored too soon after the edit: it never equals a listed one, so the page is read again."""
_SKIPPED_STATUSES = frozenset({403, 404})
"""What Notion answers for what the integration may no longer read (``restricted_resource``, ``object_not_found``)."""


class NotionSettings(BaseModel):
    """A Notion source's settings, as stored on the source (``sources.settings``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: TokenRef
    """The integration's secret (``{"env": NAME}`` or sealed)."""
    api_url: str = "https://api.notion.com"
    """Where Notion's API is (tests point it at a fake)."""
    max_pages: int = Field(default=1000, ge=1)

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"not an http(s) URL with a host: {value!r}")
        return value.rstrip("/")

    @property
    def request_budget(self) -> int:
        return REQUESTS_PER_PAGE * self.max_pages + 100


class _Unreadable(ConnectorError):
    """Notion says the integration may not read this (404 or 403): a page to skip, not a run to fail."""


@dataclass(frozen=True, slots=True)
class _Listed:
    """What the listing said of a page, for its fetch."""

    title: str
    properties: tuple[tuple[str, str], ...]
    edited: str
    """``last_edited_time`` as Notion wrote it."""
    listed_at: float
    """Notion's time (epoch seconds) when it listed the page."""


class NotionConnector:
    """The pages shared with a Notion integration. One instance per sync run (its request budget is the run's)."""

    kind = "notion"

    def __init__(
        self,
        settings: NotionSettings,
        *,
        known_versions: Mapping[str, str] | None = None,
        secret_key: SecretStr | None = None,
        http: SourceHttp | None = None,
        max_bytes: int = 20_000_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``known_versions``: page id → the version stored by the last sync (pages to look for by id when the
        listing misses them). ``http``: the client to use (tests inject one); by default one with the settings'
        request budget. ``clock``: the time when a response carries no ``Date``."""
        self.settings = settings
        self._known = dict(known_versions or {})
        self._secret_key = secret_key
        self._http = http or SourceHttp(max_requests=settings.request_budget, max_bytes=max_bytes)
        self._owns_http = http is None
        self._clock = clock
        self._token = ""
        self._listed: dict[str, _Listed] = {}
        self._notion_time = 0.0
        """The ``Date`` of Notion's last response (else our clock then), as epoch seconds."""

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def items(self) -> AsyncIterator[ItemRef]:
        # Revealed here, not in the constructor: a missing token fails the run and shows as the source's error.
        self._token = reveal(self.settings.token, self._secret_key)
        seen: set[str] = set()
        async with aclosing(self._candidates(seen)) as candidates:
            async for page in candidates:
                item = self._item(page)
                if item is None or item.key in seen:
                    continue
                seen.add(item.key)
                yield item
                if len(seen) >= self.settings.max_pages:
                    log.warning("notion_page_cap_reached", pages=len(seen), max_pages=self.settings.max_pages)
                    break
        if not seen:
            # Nothing shared is far more likely a missed step than an empty workspace: failing keeps what is indexed.
            raise ConnectorError(
                "no pages are shared with this Notion integration: in Notion, open a page or database, "
                "••• → Connections, and add the integration"
            )
        log.info("notion_listed", pages=len(seen), requests=self._http.requests)

    async def fetch(self, item: ItemRef, known_version: str | None) -> Fetched | Gone:
        listed = self._listed.get(item.key) or _Listed(item.title, (), item.version or "", 0.0)
        try:
            blocks = await self._blocks(item.key, depth=0, left=[MAX_BLOCKS], page=item.url)
        except _Unreadable as error:
            log.warning("notion_page_skipped", page=item.url, reason=str(error))
            return Gone()
        title = listed.title or "Untitled"
        markdown = page_markdown(title, blocks, properties=listed.properties)
        try:
            document = load_markdown(markdown.encode(), source_uri=item.url, fallback_title=title)
        except LoadError as error:
            log.warning("notion_page_skipped", page=item.url, reason=error.reason)
            return Gone()
        document = dataclasses.replace(document, title=title, metadata={**document.metadata, "url": item.url})
        return Fetched(document, _stored_version(listed))

    # Listing.

    async def _candidates(self, seen: set[str]) -> AsyncGenerator[Mapping[str, Any], None]:
        """Page objects: from search, then from each shared database, then the known pages both missed."""
        async for page in self._results("/v1/search", {"filter": {"property": "object", "value": "page"}}):
            yield page
        async for database in self._results("/v1/search", {"filter": {"property": "object", "value": "database"}}):
            if database.get("object") != "database" or database.get("archived") or database.get("in_trash"):
                continue
            database_id = str(database.get("id") or "")
            try:
                async for row in self._results(f"/v1/databases/{quote(database_id, safe='')}/query", {}):
                    yield row
            except _Unreadable as error:  # unshared or deleted since the search: its rows are not listed
                log.warning("notion_database_skipped", database=database_id, reason=str(error))
        for key in list(self._known):
            if key in seen:
                continue
            try:
                yield self._json(await self._get(f"/v1/pages/{quote(key, safe='')}"), f"reading page {key}")
            except _Unreadable:
                log.info("notion_page_gone", page=key)  # in the trash for good, or no longer shared: pruned

    def _item(self, page: Mapping[str, Any]) -> ItemRef | None:
        """The item for a page object; None for anything else or a page in the trash."""
        page_id = str(page.get("id") or "")
        if page.get("object") != "page" or not page_id or page.get("archived") or page.get("in_trash"):
            return None
        edited = str(page.get("last_edited_time") or "")
        url = str(page.get("url") or notion_url(page_id))
        properties = page.get("properties") or {}
        title = _title(properties)
        in_database = (page.get("parent") or {}).get("type") == "database_id"
        self._listed[page_id] = _Listed(
            title=title,
            properties=_row_properties(properties) if in_database else (),
            edited=edited,
            listed_at=self._notion_time,
        )
        return ItemRef(key=page_id, url=url, version=edited or None, title=title)

    # Bodies.

    async def _blocks(self, block_id: str, *, depth: int, left: list[int], page: str) -> list[dict[str, Any]]:
        """The children of a page or block, each with its own children under ``CHILDREN`` where they belong to
        the page. ``left``: how many more blocks the page may have (shared by the whole recursion)."""
        blocks: list[dict[str, Any]] = []
        async with aclosing(self._results(f"/v1/blocks/{quote(block_id, safe='')}/children", None)) as children:
            async for block in children:
                if left[0] <= 0:
                    log.warning("notion_page_truncated", page=page, max_blocks=MAX_BLOCKS)
                    break
                left[0] -= 1
                blocks.append(dict(block))
        for block in blocks:
            if not block.get("has_children") or block.get("type") not in RENDERED_CHILDREN or left[0] <= 0:
                continue
            if depth + 1 >= MAX_DEPTH:
                log.info("notion_blocks_too_deep", page=page, max_depth=MAX_DEPTH)
                continue
            try:
                block[CHILDREN] = await self._blocks(str(block.get("id")), depth=depth + 1, left=left, page=page)
            except _Unreadable as error:  # a synced block from a page not shared, say: the rest of the page stays
                log.info("notion_block_skipped", page=page, block=block.get("id"), reason=str(error))
        return blocks

    # Requests.

    async def _results(self, path: str, body: dict[str, Any] | None) -> AsyncGenerator[Mapping[str, Any], None]:
        """The ``results`` of a list endpoint, page after page along ``next_cursor``: POSTed with ``body`` (search,
        database query) or, when None, a GET (block children)."""
        what = _describe(path)
        cursor: str | None = None
        while True:
            paging: dict[str, Any] = {"page_size": PAGE_SIZE, **({"start_cursor": cursor} if cursor else {})}
            if body is None:
                response = await self._get(f"{path}?{urlencode(paging)}")
            else:
                response = await self._http.post_json(
                    self.settings.api_url + path, json={**body, **paging}, headers=self._headers()
                )
            data = self._json(response, what)
            for result in data.get("results") or ():
                if isinstance(result, Mapping):
                    yield result
            cursor = data.get("next_cursor")
            if not data.get("has_more") or not cursor:
                return

    async def _get(self, path: str) -> SourceResponse:
        return await self._http.get(self.settings.api_url + path, headers=self._headers())

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}", "Notion-Version": NOTION_VERSION}

    def _json(self, response: SourceResponse, what: str) -> Mapping[str, Any]:
        """The JSON body of a 200; :class:`_Unreadable` for a 404 or 403; :class:`ConnectorError` otherwise."""
        self._notion_time = _date(response) or self._clock()
        if response.status == 401:
            raise ConnectorError(
                f"token rejected by Notion (HTTP 401) while {what}: {_token_hint(self.settings.token)}"
            )
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status == 200 and isinstance(data, Mapping):
            return data
        error: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        code = str(error.get("code") or "no JSON error")
        message = " ".join(str(error.get("message") or "").split())[:300]
        reason = f"Notion answered HTTP {response.status} ({code}) while {what}" + (f": {message}" if message else "")
        if response.status in _SKIPPED_STATUSES:
            raise _Unreadable(reason)
        raise ConnectorError(reason)


def _describe(path: str) -> str:
    """What a request was for, as error messages say it."""
    if path == "/v1/search":
        return "listing the shared pages and databases"
    if path.startswith("/v1/databases/"):
        return f"listing the rows of database {path.split('/')[3]}"
    return f"reading the blocks of {path.split('/')[3]}"


def _title(properties: Mapping[str, Any]) -> str:
    """The text of the page's ``title`` property (whatever its name: ``title``, ``Name``…)."""
    for value in properties.values():
        if isinstance(value, Mapping) and value.get("type") == "title":
            return " ".join(plain_text(value.get("title")).split())
    return ""


def _row_properties(properties: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """A database row's other properties with a value, in the database's order, as (name, Markdown) pairs."""
    shown = []
    for name, value in properties.items():
        if isinstance(value, Mapping) and value.get("type") != "title" and (text := property_text(value)):
            shown.append((str(name), text))
    return tuple(shown)


def _date(response: SourceResponse) -> float | None:
    """The response's ``Date`` as epoch seconds: Notion's clock, which its ``last_edited_time`` follows."""
    try:
        return parsedate_to_datetime(response.headers.get("date", "")).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def _stored_version(listed: _Listed) -> str:
    """The version to store for a page read now: its ``last_edited_time``, marked unsettled when it was listed too
    soon after that (rounded) time for a later edit in the same minute to show."""
    try:
        edited = datetime.fromisoformat(listed.edited.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return listed.edited
    return listed.edited if listed.listed_at - edited >= SETTLE_SECONDS else listed.edited + UNSETTLED


def _token_hint(token: TokenRef) -> str:
    if token.env is not None:
        return f"put the integration's current secret in ${token.env}"
    return "add the source again with the integration's current secret"


def _build(settings: NotionSettings, context: RunContext) -> NotionConnector:
    return NotionConnector(
        settings, known_versions=context.known_versions, secret_key=context.secret_key, max_bytes=context.max_bytes
    )


KIND = ConnectorKind(kind="notion", settings=NotionSettings, build=_build)

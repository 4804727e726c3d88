"""The Confluence Cloud connector: the pages of one space, through the REST API v2, each under its ancestors' titles.

How a sync spends its requests, so that an unchanged space costs only its listing:

- ``items()`` finds the space's id from its key (``GET /wiki/api/v2/spaces?keys=KEY``), then lists its pages 250 at a
  time without their bodies (``GET /wiki/api/v2/spaces/{id}/pages``, following the cursor in ``_links.next``). Each
  listed page has its id (the item's key), title, parent and version number.
- A page's version token is its version number plus a digest of its ancestors' titles: the sync engine skips a page
  whose token is unchanged, and fetches it again when it was edited, or moved, or a page above it was renamed (each
  of which changes its heading path without changing its own version).
- ``fetch()`` reads one page's body in the storage format (``GET /wiki/api/v2/pages/{id}?body-format=storage``).

The ancestors come from the listing's ``parentId`` chain, with no request of their own. Their titles lead the
document's title ("Runbooks › Deploy › Rollback"), which the chunker puts before each chunk's headings. The space's
homepage, which every top-level page sits under, is left out of the chain, as the space's page tree leaves it out.

Authentication is HTTP Basic with the account's email and an Atlassian API token, revealed at the start of each run.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import quote, urlencode, urljoin, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from core.logging import get_logger
from knowledge.documents import HEADING_SEPARATOR
from knowledge.sources.confluence_api import Page, PageList, PageWithBody, Space, SpaceList, error_reason, parse_answer
from knowledge.sources.confluence_storage import storage_document
from knowledge.sources.connectors import ConnectorKind, RunContext
from knowledge.sources.http import ResponseTooLarge, SourceHttp, SourceResponse, redacted_url
from knowledge.sources.protocol import ConnectorError, Fetched, Gone, ItemRef
from knowledge.sources.secrets import TokenRef, reveal

log = get_logger(__name__)

PAGE_LIMIT = 250
"""Pages per listing request: the most the API gives at once."""
DEFAULT_MAX_BYTES = 20_000_000
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class ConfluenceSettings(BaseModel):
    """A Confluence source's settings, as stored on the source (``sources.settings``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    """The site, such as ``https://your-site.atlassian.net`` (a trailing ``/wiki`` is dropped)."""
    space: str = Field(min_length=1, max_length=255, pattern=r"^~?[\w:.-]+$")
    """The space's key: ``ENG`` in ``/wiki/spaces/ENG/overview``."""
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    """The Atlassian account the token belongs to."""
    token: TokenRef
    """An Atlassian API token of that account."""
    max_pages: int = Field(default=2000, ge=1)
    max_requests: int | None = Field(default=None, ge=1)
    """The request budget of one sync; None: two per page plus a hundred (retries included)."""

    @field_validator("base_url")
    @classmethod
    def _site_url(cls, value: str) -> str:
        try:
            parts = urlsplit(value.strip())
            host = parts.hostname or ""
        except ValueError:
            raise ValueError(f"not a URL: {value!r}") from None
        path = parts.path.rstrip("/").removesuffix("/wiki")
        if not host or parts.scheme not in {"http", "https"} or path or parts.query or parts.username:
            raise ValueError(f"give the site's address, such as https://your-site.atlassian.net, not {value!r}")
        if parts.scheme == "http" and host not in _LOOPBACK:
            raise ValueError("use https: the API token would cross the network in clear over http")
        return f"{parts.scheme}://{parts.netloc.lower()}"

    @property
    def request_budget(self) -> int:
        return self.max_requests or 2 * self.max_pages + 100


class ConfluenceConnector:
    """A Confluence space as a source. One instance per sync run (its request budget is the run's)."""

    kind = "confluence"

    def __init__(
        self,
        settings: ConfluenceSettings,
        *,
        secret_key: SecretStr | None = None,
        http: SourceHttp | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        """``secret_key`` opens a sealed token; ``http``: the client to use (tests inject one), by default one with
        ``settings.request_budget``."""
        self.settings = settings
        self._secret_key = secret_key
        self._http = http or SourceHttp(max_requests=settings.request_budget, max_bytes=max_bytes)
        self._owns_http = http is None
        self._headers: dict[str, str] = {}
        self._ancestors: dict[str, tuple[str, ...]] = {}
        """Page id → its ancestors' titles, from the listing, for the document ``fetch`` makes."""

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def items(self) -> AsyncIterator[ItemRef]:
        self._authorize()
        space = await self._space()
        pages = await self._pages(space)
        by_id = {page.id: page for page in pages}
        for page in pages:
            ancestors = _ancestors(page, by_id, homepage=space.homepage_id)
            self._ancestors[page.id] = ancestors
            yield ItemRef(
                key=page.id,
                url=self._link(page, fallback=f"/spaces/{quote(self.settings.space)}/pages/{page.id}"),
                version=_version(page.version.number, ancestors),
                title=page.title,
            )
        log.info("confluence_listed", space=self.settings.space, pages=len(pages), requests=self._http.requests)

    async def fetch(self, item: ItemRef, known_version: str | None) -> Fetched | Gone:
        if not self._headers:
            self._authorize()
        url = f"{self._api}/pages/{quote(item.key, safe='')}?body-format=storage"
        try:
            response = await self._get(url)
        except ResponseTooLarge as error:  # one huge page must not stop the space's sync: it is left out
            log.warning("confluence_page_skipped", page=item.key, reason=str(error))
            return Gone()
        if response.status == 404:  # deleted (or hidden) since the listing
            return Gone()
        page = parse_answer(PageWithBody, self._json(response, url), url)
        link = self._link(page, fallback=item.url)
        ancestors = self._ancestors.get(item.key, ())
        document = storage_document(page.body.storage.value, url=link, title=page.title or item.title)
        document = dataclasses.replace(
            document, title=HEADING_SEPARATOR.join((*ancestors, document.title)), metadata={"url": link}
        )
        return Fetched(document, _version(page.version.number, ancestors))

    # The API.

    @property
    def _api(self) -> str:
        return f"{self.settings.base_url}/wiki/api/v2"

    def _authorize(self) -> None:
        token = reveal(self.settings.token, self._secret_key)
        credentials = base64.b64encode(f"{self.settings.email}:{token}".encode()).decode()
        self._headers = {"Authorization": f"Basic {credentials}", "Accept": "application/json"}

    async def _space(self) -> Space:
        url = f"{self._api}/spaces?{urlencode({'keys': self.settings.space})}"
        spaces = parse_answer(SpaceList, self._json(await self._checked(url), url), url)
        wanted = self.settings.space.casefold()
        found = next((space for space in spaces.results if space.key.casefold() in {"", wanted}), None)
        if found is None:  # the API lists only the spaces the account may see
            raise self._space_not_found()
        return found

    async def _pages(self, space: Space) -> list[Page]:
        """The space's current pages, without bodies, up to ``max_pages``."""
        query = urlencode({"limit": PAGE_LIMIT, "status": "current"})
        url: str | None = f"{self._api}/spaces/{quote(space.id, safe='')}/pages?{query}"
        pages: list[Page] = []
        visited: set[str] = set()
        while url is not None and url not in visited and len(pages) < self.settings.max_pages:
            visited.add(url)
            listing = parse_answer(PageList, self._json(await self._checked(url), url), url)
            pages.extend(listing.results)
            url = self._next(listing.links.next)
        if len(pages) >= self.settings.max_pages and url is not None:
            log.warning("confluence_page_cap_reached", space=self.settings.space, max_pages=self.settings.max_pages)
        return pages[: self.settings.max_pages]

    def _next(self, link: str | None) -> str | None:
        """The next listing's URL (the API gives it relative to the site); never one on another site, which would
        be sent the token."""
        if not link:
            return None
        url = urljoin(f"{self.settings.base_url}/", link)
        if _origin(url) != _origin(self.settings.base_url):
            raise ConnectorError(f"Confluence pointed the listing to another site ({redacted_url(url)}); stopped")
        return url

    async def _get(self, url: str) -> SourceResponse:
        """GET ``url``; a refused token or space becomes a ``ConnectorError``, a 404 is left to the caller."""
        response = await self._http.get(url, headers=self._headers)
        if response.status == 401:
            raise ConnectorError(
                f"Confluence at {self.settings.base_url} rejected the API token of {self.settings.email} "
                "(HTTP 401): check the email, or make a new token"
            )
        if response.status == 403:
            raise ConnectorError(
                f"{self.settings.email} may not read space {self.settings.space} at {self.settings.base_url} "
                "(HTTP 403): ask a space admin for view permission"
            )
        if response.status not in {200, 404}:
            raise ConnectorError(f"HTTP {response.status} from {redacted_url(url)}{error_reason(response)}")
        return response

    async def _checked(self, url: str) -> SourceResponse:
        response = await self._get(url)
        if response.status == 404:
            raise self._space_not_found()
        return response

    def _space_not_found(self) -> ConnectorError:
        return ConnectorError(
            f"space {self.settings.space} not found at {self.settings.base_url}, or not visible to "
            f"{self.settings.email}"
        )

    def _json(self, response: SourceResponse, url: str) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ConnectorError(
                f"{redacted_url(url)} did not answer JSON: is {self.settings.base_url} a Confluence Cloud site?"
            ) from None

    def _link(self, page: Page, *, fallback: str) -> str:
        """Where people read the page: the site's ``/wiki`` and the page's web UI path."""
        path = page.links.webui or fallback
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.settings.base_url}/wiki/{path.lstrip('/')}"


def _ancestors(page: Page, by_id: Mapping[str, Page], *, homepage: str | None) -> tuple[str, ...]:
    """The titles of the pages above ``page``, the topmost first; the chain stops at the homepage, at a parent not
    listed (a folder, a page over the cap) and at a loop."""
    titles: list[str] = []
    seen = {page.id}
    parent = page.parent_id
    while parent and parent != homepage and parent not in seen and parent in by_id:
        seen.add(parent)
        titles.append(by_id[parent].title)
        parent = by_id[parent].parent_id
    return tuple(reversed(titles))


def _version(number: int, ancestors: tuple[str, ...]) -> str:
    path = hashlib.sha256("\n".join(ancestors).encode()).hexdigest()[:12]
    return f"{number}:{path}"


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc.lower()


def _build(settings: ConfluenceSettings, context: RunContext) -> ConfluenceConnector:
    return ConfluenceConnector(settings, secret_key=context.secret_key, max_bytes=context.max_bytes)


KIND = ConnectorKind(kind="confluence", settings=ConfluenceSettings, build=_build)

"""The website connector: a site's pages from its sitemaps and a crawl from start URLs, fetched conditionally.

Scope: the host of each start URL and a path prefix (by default the start URL's folder); robots.txt is honoured;
links are followed breadth first up to ``max_depth`` hops and ``max_pages`` pages; fragments and tracking
parameters are dropped; a page that declares another ``<link rel="canonical">`` gives way to that one; redirects
are followed while they stay in scope.

How the crawl and the fetches share the work, so that no page is downloaded twice in a sync and an unchanged site
costs only conditional requests:

- ``items()`` requests each page once, conditionally when the sync engine passed the version stored last time
  (``known_versions``). A 304 lists the page unchanged (the engine then skips ``fetch``); a 200 lists it with its
  new version and keeps the body in a small in-memory cache (bounded in bytes) that ``fetch()`` takes it from.
  ``fetch()`` requests the page itself only when the cache no longer holds it.
- A 304 carries no links, so the pages already known are crawl roots too: any page that is new since the last sync
  is linked from a page that changed (a new link changes the page), which is downloaded and read. Hence a page
  whose last link was removed stays listed while it is still served, and ``max_depth`` counts hops from the start
  URLs or from a page already known.
- A page in a sitemap with ``<lastmod>`` has ``lastmod:<date>`` as its version: while the date stays the same the
  page is listed without any request at all.

Version tokens: ``lastmod:<sitemap date>``, ``etag:<ETag>``, ``modified:<Last-Modified>``, or ``sha256:<hex>`` of
the body when the server gives no validator (then every sync downloads the page, and only the hash saves work).
"""

from __future__ import annotations

import dataclasses
import hashlib
import zlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree
from defusedxml import DefusedXmlException
from pydantic import BaseModel, ConfigDict, Field, field_validator

from core.logging import get_logger
from knowledge.loaders.errors import LoadError
from knowledge.loaders.html import decode_html, for_html_parser
from knowledge.loaders.url import load_body, loader_for
from knowledge.sources.connectors import ConnectorKind, RunContext
from knowledge.sources.http import ResponseTooLarge, SourceHttp, SourceResponse, redacted_url
from knowledge.sources.protocol import ConnectorError, Fetched, Gone, ItemRef, NotModified

log = get_logger(__name__)

ROBOTS_AGENT = "Threadwise"
"""The name robots.txt rules address us by."""
MAX_REDIRECTS = 5
MAX_SITEMAPS = 50
"""Sitemap files read in one sync (an index and the sitemaps it names), so that a loop of indexes ends."""
MAX_SITEMAP_NESTING = 3
DEFAULT_MAX_BYTES = 20_000_000
DEFAULT_CACHE_BYTES = 64_000_000
_TRACKING_PARAMS = frozenset(
    {"gclid", "dclid", "fbclid", "msclkid", "yclid", "igshid", "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmla"}
)
# Links to these are assets, never documents: not worth a request.
_ASSET_SUFFIXES = frozenset(
    {
        ".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".ico", ".bmp", ".css", ".js", ".mjs", ".map",
        ".woff", ".woff2", ".ttf", ".otf", ".eot", ".zip", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".7z", ".rar",
        ".mp3", ".mp4", ".m4a", ".webm", ".ogg", ".wav", ".avi", ".mov", ".exe", ".dmg", ".msi", ".iso", ".deb",
        ".rpm", ".whl", ".jar", ".apk",
    }
)  # fmt: skip
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


class WebsiteSettings(BaseModel):
    """A website source's settings, as stored on the source (``sources.settings``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_urls: tuple[str, ...] = Field(min_length=1)
    sitemap_url: str | None = None
    """None: the sitemaps robots.txt names, else ``<origin>/sitemap.xml`` if there is one."""
    use_sitemap: bool = True
    max_pages: int = Field(default=1000, ge=1)
    max_depth: int = Field(default=5, ge=0)
    include_prefixes: tuple[str, ...] = ()
    """Path prefixes pages must start with; empty: each start URL's folder (``/docs/intro`` → ``/docs/``)."""
    max_requests: int | None = Field(default=None, ge=1)
    """The request budget of one sync; None: three per page plus a hundred."""

    @field_validator("start_urls", "sitemap_url")
    @classmethod
    def _http_urls(cls, value: Any) -> Any:
        for url in value if isinstance(value, tuple) else [value] if value else []:
            if normalize_url(url) is None:
                raise ValueError(f"not an http(s) URL with a host: {url!r}")
        return value

    @field_validator("include_prefixes")
    @classmethod
    def _absolute_prefixes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in value:
            if not prefix.startswith("/"):
                raise ValueError(f"a path prefix starts with '/': {prefix!r}")
        return value

    @property
    def request_budget(self) -> int:
        return self.max_requests or 3 * self.max_pages + 100


class WebsiteConnector:
    """A website as a source. One instance per sync run (its request budget and body cache are the run's)."""

    kind = "website"

    def __init__(
        self,
        settings: WebsiteSettings,
        *,
        known_versions: Mapping[str, str] | None = None,
        http: SourceHttp | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        """``known_versions``: item key → the version stored by the last sync, so that the crawl can ask for each
        page conditionally (without it every page is downloaded, and only its version token saves the rest).
        ``http``: the client to use (tests inject one); by default one with ``settings.request_budget``."""
        self.settings = settings
        self._known = dict(known_versions or {})
        self._http = http or SourceHttp(max_requests=settings.request_budget, max_bytes=max_bytes)
        self._owns_http = http is None
        self._cache = _BodyCache(cache_bytes)
        self._scopes = _scopes(settings)
        self._robots: dict[str, RobotFileParser] = {}

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    def in_scope(self, url: str) -> bool:
        """Whether a normalised URL is on a start URL's host and under an included path prefix."""
        parts = urlsplit(url)
        host = parts.netloc.lower()
        path = parts.path or "/"
        return any(
            host == scope_host and (path.startswith(prefix) or path == prefix.rstrip("/"))
            for scope_host, prefix in self._scopes
        )

    async def items(self) -> AsyncIterator[ItemRef]:
        crawl = _Crawl()
        lastmods = await self._sitemap_entries() if self.settings.use_sitemap else {}
        roots = [*self.settings.start_urls, *lastmods, *self._known]
        for url in roots:
            crawl.enqueue(normalize_url(url), depth=0, accept=self._worth_visiting)
        listed = 0
        while crawl.queue and listed < self.settings.max_pages:
            url, depth = crawl.queue.popleft()
            if url in crawl.claimed or not await self._allowed(url):
                continue
            visit = await self._visit(url, crawl, lastmods)
            if visit.canonical is not None and url not in crawl.via_canonical:
                # A copy of another page: that one is the item (visited next unless already on its way).
                if visit.canonical not in crawl.queued:
                    crawl.via_canonical.add(visit.canonical)
                    crawl.enqueue(visit.canonical, depth=depth, accept=self._worth_visiting, first=True)
            elif visit.item is not None:
                listed += 1
                yield visit.item
            if depth < self.settings.max_depth:
                for link in visit.links:
                    crawl.enqueue(link, depth=depth + 1, accept=self._worth_visiting)
        if not listed:
            # Nothing at all is more likely a broken address than an empty site: failing keeps what is indexed.
            raise ConnectorError(f"found no pages at {', '.join(map(redacted_url, self.settings.start_urls))}")
        if listed >= self.settings.max_pages and crawl.queue:
            log.warning("website_page_cap_reached", pages=listed, max_pages=self.settings.max_pages)
        log.info("website_listed", pages=listed, requests=self._http.requests)

    async def fetch(self, item: ItemRef, known_version: str | None) -> Fetched | NotModified | Gone:
        cached = self._cache.pop(item.key)
        if cached is not None:
            response, version = cached
        else:
            try:
                response = await self._http.get(
                    item.url, headers=conditional_headers(known_version), follow_redirects=True
                )
            except ResponseTooLarge as error:  # as for a page the listing finds too large: nothing to index
                log.warning("website_page_skipped", url=redacted_url(item.url), reason=str(error))
                return Gone()
            final = normalize_url(response.url)
            if response.status in {404, 410} or final is None or not self.in_scope(final):
                return Gone()
            if response.status == 304:
                return NotModified()
            if response.status != 200:
                raise ConnectorError(f"HTTP {response.status} from {redacted_url(item.url)}")
            version = item.version if item.version and item.version.startswith("lastmod:") else validator(response)
        try:
            document = load_body(
                response.content,
                url=item.url,
                final_url=item.url,
                content_type=response.content_type,
                charset=response.charset,
            )
        except LoadError as error:
            # Nothing can be indexed from it (a broken PDF, a binary file): treated as gone, so no stale copy stays.
            log.warning("website_page_skipped", url=redacted_url(item.url), reason=error.reason)
            return Gone()
        return Fetched(dataclasses.replace(document, source_uri=item.url), version)

    # The crawl, one page at a time.

    async def _visit(self, url: str, crawl: _Crawl, lastmods: Mapping[str, str | None]) -> _Visit:
        """Request ``url`` (following in-scope redirects) and tell what it is: an item, links, a canonical."""
        for _ in range(MAX_REDIRECTS + 1):
            crawl.claimed.add(url)
            known = self._known.get(url)
            lastmod = lastmods.get(url)
            if lastmod and known == f"lastmod:{lastmod}":
                return _Visit(ItemRef(key=url, url=url, version=known))
            try:
                response = await self._http.get(url, headers=conditional_headers(known))
            except ResponseTooLarge as error:
                log.warning("website_page_skipped", url=redacted_url(url), reason=str(error))
                return _Visit()
            target = normalize_url(response.location) if response.location else None
            if target is None:
                break
            if target in crawl.claimed or not self._worth_visiting(target) or not await self._allowed(target):
                return _Visit()  # a duplicate of a page already seen, or a way out of scope
            url = target
        else:
            log.info("website_too_many_redirects", url=redacted_url(url))
            return _Visit()
        if response.status == 304 and known is not None:
            return _Visit(ItemRef(key=url, url=url, version=known))
        if response.status != 200:
            if response.status not in {404, 410}:
                log.info("website_page_skipped", url=redacted_url(url), status=response.status)
            return _Visit()
        if loader_for(response.content_type, url) is None:
            return _Visit()  # an image, an archive: nothing to index
        page = _PageLinks.read(response) if _media_type(response) in _HTML_TYPES else _PageLinks()
        links = [] if page.nofollow else [normalize_url(urljoin(page.base or url, link)) for link in page.links]
        canonical = normalize_url(urljoin(page.base or url, page.canonical)) if page.canonical else None
        if canonical is not None and canonical != url and self.in_scope(canonical):
            return _Visit(links=links, canonical=canonical)
        if page.noindex:
            return _Visit(links=links)
        version = f"lastmod:{lastmod}" if lastmod else validator(response)
        if version != known:  # the engine will ask for the body: keep it
            self._cache.put(url, response, version)
        return _Visit(ItemRef(key=url, url=url, version=version, title=page.title), links)

    def _worth_visiting(self, url: str) -> bool:
        return self.in_scope(url) and PurePosixPath(unquote(urlsplit(url).path)).suffix.lower() not in _ASSET_SUFFIXES

    async def _allowed(self, url: str) -> bool:
        return (await self._robots_for(url)).can_fetch(ROBOTS_AGENT, url)

    async def _robots_for(self, url: str) -> RobotFileParser:
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if (parser := self._robots.get(origin)) is not None:
            return parser
        parser = RobotFileParser(f"{origin}/robots.txt")
        try:
            response = await self._http.get(f"{origin}/robots.txt", follow_redirects=True)
        except ResponseTooLarge:
            response = None  # RFC 9309: a robots.txt may be cut at 500 kB; ours is a whole page's cap
        if response is not None and response.status >= 500:
            # RFC 9309: an unreachable robots.txt means nothing may be crawled; failing the run keeps what we have.
            raise ConnectorError(f"robots.txt of {origin} answered HTTP {response.status}; not crawling")
        lines = response.content.decode("utf-8", errors="replace").splitlines() if response else []
        parser.parse(lines if response is not None and response.status == 200 else [])  # 4xx: no rules
        self._robots[origin] = parser
        return parser

    # Sitemaps.

    async def _sitemap_entries(self) -> dict[str, str | None]:
        """In-scope page URLs (normalised) from the sitemaps, each with its ``<lastmod>`` when given."""
        required = self.settings.sitemap_url is not None
        if self.settings.sitemap_url is not None:
            roots = [self.settings.sitemap_url]
        else:
            roots = []
            for origin in dict.fromkeys(_origin(url) for url in self.settings.start_urls):
                named = (await self._robots_for(origin + "/")).site_maps()
                roots.extend(named or [f"{origin}/sitemap.xml"])
        entries: dict[str, str | None] = {}
        pending = deque((url, 0) for url in roots)
        read: set[str] = set()
        while pending and len(read) < MAX_SITEMAPS:
            url, nesting = pending.popleft()
            if url in read:
                continue
            read.add(url)
            root = await self._sitemap(url, required=required)
            if root is None:
                continue
            if _local_name(root.tag) == "sitemapindex" and nesting < MAX_SITEMAP_NESTING:
                pending.extend((loc, nesting + 1) for loc, _ in _entries(root, "sitemap"))
            elif _local_name(root.tag) == "urlset":
                for loc, lastmod in _entries(root, "url"):
                    page = normalize_url(loc)
                    if page is not None and self._worth_visiting(page):
                        entries.setdefault(page, lastmod)
        return entries

    async def _sitemap(self, url: str, *, required: bool) -> Element | None:
        """One sitemap file parsed. An optional one (guessed, not configured) that is missing or unreadable is
        skipped (and logged); a configured one fails the run. A server error fails the run either way: skipping
        would prune the pages only the sitemap lists."""
        response = await self._http.get(url, follow_redirects=True)
        problem = f"answered HTTP {response.status}" if response.status != 200 else ""
        root: Element | None = None
        if not problem:
            try:
                content = response.content
                if content[:2] == b"\x1f\x8b":  # gzipped (sitemap.xml.gz)
                    content = _gunzip(content, limit=self._http.max_bytes, url=url)
                root = defusedxml.ElementTree.fromstring(content)
            except (ParseError, DefusedXmlException) as error:
                problem = f"is not a valid sitemap ({type(error).__name__}: {error})"
        if problem and required:
            raise ConnectorError(f"sitemap {redacted_url(url)} {problem}")
        if problem:
            log.info("website_sitemap_skipped", url=redacted_url(url), reason=problem)
        return root


@dataclass(slots=True)
class _Visit:
    item: ItemRef | None = None
    links: list[str | None] = field(default_factory=list)
    canonical: str | None = None


@dataclass(slots=True)
class _Crawl:
    """One listing's frontier: breadth first, each URL queued once and visited once."""

    queue: deque[tuple[str, int]] = field(default_factory=deque)
    queued: set[str] = field(default_factory=set)
    claimed: set[str] = field(default_factory=set)
    """URLs requested (redirect targets included): never requested again in this listing."""
    via_canonical: set[str] = field(default_factory=set)
    """URLs queued because another page names them canonical: they are items whatever canonical they declare."""

    def enqueue(self, url: str | None, *, depth: int, accept: Callable[[str], bool], first: bool = False) -> None:
        if url is None or url in self.queued or not accept(url):
            return
        self.queued.add(url)
        if first:
            self.queue.appendleft((url, depth))
        else:
            self.queue.append((url, depth))


class _BodyCache:
    """Bodies downloaded while listing, kept for ``fetch`` (oldest dropped past ``max_bytes``)."""

    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._size = 0
        self._entries: OrderedDict[str, tuple[SourceResponse, str]] = OrderedDict()

    def put(self, key: str, response: SourceResponse, version: str) -> None:
        self.pop(key)
        self._entries[key] = (response, version)
        self._size += len(response.content)
        while self._size > self._max_bytes and self._entries:
            _, (dropped, _) = self._entries.popitem(last=False)
            self._size -= len(dropped.content)

    def pop(self, key: str) -> tuple[SourceResponse, str] | None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._size -= len(entry[0].content)
        return entry


class _PageLinks(HTMLParser):
    """What the crawl needs from an HTML page, read with the standard library's fast tokenizer."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.canonical: str | None = None
        self.base: str | None = None
        self.title = ""
        self.noindex = False
        self.nofollow = False
        self._in_title = False

    @classmethod
    def read(cls, response: SourceResponse) -> _PageLinks:
        page = cls()
        try:
            page.feed(for_html_parser(decode_html(response.content, charset=response.charset)))
            page.close()
        except AssertionError as error:  # html.parser's answer to some broken declarations (``<![<![…>``)
            log.info("website_page_markup_cut_short", url=redacted_url(response.url), error=str(error)[:200])
        page.title = " ".join(page.title.split())
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        href = values.get("href", "").strip()
        if tag in {"a", "area"} and href:
            self.links.append(href)
        elif tag == "link" and href and "canonical" in values.get("rel", "").lower().split():
            self.canonical = self.canonical or href
        elif tag == "base" and href:
            self.base = self.base or href
        elif tag == "meta" and values.get("name", "").lower() in {"robots", ROBOTS_AGENT.lower()}:
            directives = {part.strip() for part in values.get("content", "").lower().split(",")}
            self.noindex = self.noindex or bool(directives & {"noindex", "none"})
            self.nofollow = self.nofollow or bool(directives & {"nofollow", "none"})
        elif tag == "title" and not self.title:
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def normalize_url(url: str | None) -> str | None:
    """The form of a URL that duplicates share: scheme and host in lower case, no default port, no credentials,
    no fragment, no tracking parameters, the query sorted, ``.`` and ``..`` resolved. None: not http(s)."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in {"http", "https"} or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != {"http": 80, "https": 443}[scheme]:
        host = f"{host}:{port}"
    query = sorted(
        (name, value)
        for name, value in parse_qsl(parts.query, keep_blank_values=True)
        if not name.lower().startswith("utm_") and name.lower() not in _TRACKING_PARAMS
    )
    return urlunsplit((scheme, host, _resolve_dots(parts.path or "/"), urlencode(query), ""))


def validator(response: SourceResponse) -> str:
    """The version token a response gives: its ETag, else its Last-Modified, else a hash of its body."""
    if etag := response.headers.get("etag"):
        return f"etag:{etag}"
    if modified := response.headers.get("last-modified"):
        return f"modified:{modified}"
    return "sha256:" + hashlib.sha256(response.content).hexdigest()


def conditional_headers(version: str | None) -> dict[str, str]:
    """The request headers that let the server answer 304 for a page still at ``version``."""
    if version and version.startswith("etag:"):
        return {"If-None-Match": version.removeprefix("etag:")}
    if version and version.startswith("modified:"):
        return {"If-Modified-Since": version.removeprefix("modified:")}
    return {}


def _scopes(settings: WebsiteSettings) -> list[tuple[str, str]]:
    scopes: list[tuple[str, str]] = []
    for start in settings.start_urls:
        url = normalize_url(start)
        assert url is not None  # noqa: S101 - the settings validated it
        parts = urlsplit(url)
        for prefix in settings.include_prefixes or (_folder(parts.path),):
            scopes.append((parts.netloc, prefix))
    return scopes


def _folder(path: str) -> str:
    """A start path's folder: ``/docs/`` for ``/docs/``, ``/docs`` and ``/docs/intro.html``."""
    if path.endswith("/"):
        return path
    head, _, last = path.rpartition("/")
    return f"{head}/" if "." in last else f"{path}/"


def _resolve_dots(path: str) -> str:
    """``.`` and ``..`` segments resolved as RFC 3986 says (urljoin does it; the base only supplies a root)."""
    return urlsplit(urljoin("http://host/", path)).path or "/"


def _origin(url: str) -> str:
    parts = urlsplit(normalize_url(url) or url)
    return f"{parts.scheme}://{parts.netloc}"


def _local_name(tag: str) -> str:
    return tag.rpartition("}")[2]


def _entries(root: Element, kind: str) -> Iterable[tuple[str, str | None]]:
    """(loc, lastmod) of each ``<url>`` or ``<sitemap>`` element, whatever namespace the file uses."""
    for element in root:
        if _local_name(element.tag) != kind:
            continue
        fields = {_local_name(child.tag): (child.text or "").strip() for child in element}
        if fields.get("loc"):
            yield fields["loc"], fields.get("lastmod") or None


def _gunzip(content: bytes, *, limit: int, url: str) -> bytes:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(content, limit + 1)
    except zlib.error as error:
        raise ParseError(f"bad gzip data ({error})") from None
    if len(data) > limit:
        raise ResponseTooLarge(f"sitemap {redacted_url(url)} unpacks to over {limit:,} bytes")
    return data


def _media_type(response: SourceResponse) -> str:
    return response.content_type.split(";")[0].strip().lower()


def _build(settings: WebsiteSettings, context: RunContext) -> WebsiteConnector:
    return WebsiteConnector(settings, known_versions=context.known_versions, max_bytes=context.max_bytes)


KIND = ConnectorKind(kind="website", settings=WebsiteSettings, build=_build)

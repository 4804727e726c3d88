"""Web pages and files over HTTP(S): fetched with a size cap, loaded by content type."""

from __future__ import annotations

from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import httpx

from knowledge.documents import SourceDocument
from knowledge.loaders.errors import LoadError
from knowledge.loaders.files import LOADERS_BY_SUFFIX, Loader, fallback_title
from knowledge.loaders.html import load_html
from knowledge.loaders.markdown import load_markdown
from knowledge.loaders.pdf import load_pdf
from knowledge.loaders.rst import load_rst
from knowledge.loaders.text import load_text, looks_binary

LOADERS_BY_CONTENT_TYPE: dict[str, Loader] = {
    "text/html": load_html,
    "application/xhtml+xml": load_html,
    "text/markdown": load_markdown,
    "text/x-markdown": load_markdown,
    "text/x-rst": load_rst,
    "text/plain": load_text,
    "application/pdf": load_pdf,
}
# Plain-text formats that servers (raw file hosts especially) label text/plain; the suffix knows better.
_TEXT_SUFFIXES = {".md": load_markdown, ".markdown": load_markdown, ".rst": load_rst}
_ACCEPT = "text/html, application/xhtml+xml, text/markdown, text/plain;q=0.9, application/pdf;q=0.9, */*;q=0.1"


async def load_url(url: str, *, client: httpx.AsyncClient, max_bytes: int) -> SourceDocument:
    """Fetch ``url`` (redirects followed) and load it; ``source_uri`` is the URL finally reached.

    Only http and https. Failures (network, non-2xx status, a body over ``max_bytes``, an unknown type)
    raise :class:`LoadError` naming the cause.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as error:  # e.g. an unclosed IPv6 bracket
        raise LoadError(url, f"invalid URL ({error})") from None
    if parts.scheme not in {"http", "https"}:
        raise LoadError(url, f"unsupported URL scheme {parts.scheme or '(none)'!r}; only http and https")
    if not host:
        raise LoadError(url, "URL has no host")
    try:
        async with client.stream("GET", url, follow_redirects=True, headers={"Accept": _ACCEPT}) as response:
            if not response.is_success:
                raise LoadError(url, f"HTTP {response.status_code} {response.reason_phrase}".rstrip())
            raw = await _read_capped(response, url, max_bytes)
            final_url = str(response.url)
            content_type = response.headers.get("content-type", "")
            charset = response.charset_encoding
    except httpx.HTTPError as error:
        # After redirects the failing host may not be the one asked for: name the one that failed.
        failed_host = error.request.url.host if _has_request(error) else host
        detail = " ".join(str(error).split())
        reason = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
        raise LoadError(url, f"cannot fetch from {failed_host} ({reason})") from None
    except httpx.InvalidURL as error:
        raise LoadError(url, f"invalid URL ({error})") from None

    return load_body(raw, url=url, final_url=final_url, content_type=content_type, charset=charset)


def load_body(raw: bytes, *, url: str, final_url: str, content_type: str, charset: str | None) -> SourceDocument:
    """A body already fetched from ``url`` (finally reached at ``final_url``), loaded by its content type.

    What :func:`load_url` does once it has the bytes, for callers that fetch on their own (the website connector).
    ``charset`` is the one the ``Content-Type`` declares. Raises :class:`LoadError` naming ``url``.
    """
    loader = loader_for(content_type, final_url)
    if loader is None:
        raise LoadError(url, f"unsupported content type {content_type.split(';')[0].strip() or '(none)'}")
    title = _url_title(final_url)
    try:
        if loader is load_html:
            return load_html(raw, source_uri=final_url, fallback_title=title, charset=charset)
        if loader is not load_pdf:
            if looks_binary(raw):
                raise LoadError(url, "binary file")
            raw = _to_utf8(raw, charset)
        return loader(raw, source_uri=final_url, fallback_title=title)
    except LoadError as error:
        raise LoadError(url, error.reason) from None


async def _read_capped(response: httpx.Response, url: str, max_bytes: int) -> bytes:
    """The body, abandoned as soon as it passes ``max_bytes`` (announced or counted)."""
    announced = response.headers.get("content-length", "")
    if announced.isdigit() and int(announced) > max_bytes:
        raise LoadError.too_large(url, size=int(announced), limit=max_bytes)
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise LoadError.too_large(url, size=None, limit=max_bytes)
    return bytes(body)


def _has_request(error: httpx.HTTPError) -> bool:
    try:
        error.request  # noqa: B018 - raises RuntimeError when the error was raised without one
    except RuntimeError:
        return False
    return True


def loader_for(content_type: str, url: str) -> Loader | None:
    """The loader for a response of ``content_type`` from ``url`` (its suffix decides when the type is vague)."""
    media_type = content_type.split(";")[0].strip().lower()
    suffix = PurePosixPath(unquote(urlsplit(url).path)).suffix.lower()
    if media_type == "text/plain" and suffix in _TEXT_SUFFIXES:
        return _TEXT_SUFFIXES[suffix]
    return LOADERS_BY_CONTENT_TYPE.get(media_type) or LOADERS_BY_SUFFIX.get(suffix)


def _to_utf8(raw: bytes, charset: str | None) -> bytes:
    """Re-encode text a server declared in another charset, since the text loaders read UTF-8."""
    if not charset or charset.lower().replace("_", "-") in {"utf-8", "utf8", "us-ascii", "ascii"}:
        return raw
    try:
        return raw.decode(charset).encode("utf-8")
    except (LookupError, UnicodeDecodeError):
        return raw  # a wrong label: let the loader judge the bytes themselves


def _url_title(url: str) -> str:
    """A title from the URL's last path segment (``/docs/getting-started.html`` → ``getting started``), else host."""
    parts = urlsplit(url)
    name = PurePosixPath(unquote(parts.path)).stem
    return fallback_title(name) if name else parts.hostname or url

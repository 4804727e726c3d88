"""Where a document is published: its source path (relative to the folder that was ingested) → its site URL.

Pure functions, no I/O. Each style follows what its generator does with a source tree:

- ``mkdocs`` (``use_directory_urls``, MkDocs' default): ``a/b.md`` → ``{base}/a/b/``; ``index.md`` and
  ``README.md`` → their folder, ``{base}/a/``. Other files are copied as they are: ``a/x.html`` → ``{base}/a/x.html``.
- ``sphinx`` (the ``html`` builder): every source file (``.rst``, ``.md``, ``.txt``) becomes ``.html`` beside where
  it sits, ``index`` included: ``a/b.rst`` → ``{base}/a/b.html``, ``a/index.rst`` → ``{base}/a/index.html``. Only
  the ``dirhtml`` builder makes folder URLs; a site built with it is an ``mkdocs``-shaped site here.
- ``docusaurus``: ``a/b.md(x)`` → ``{base}/a/b``; number prefixes (``01-``, ``01_``, ``1.``) are dropped from every
  segment; ``index``, ``README`` and a file named like its folder (``guides/guides.md``) → ``{base}/a/``; front
  matter ``id`` replaces the file name and ``slug`` replaces the whole route (a slug starting with ``/`` is from
  the docs route, ``{base}/x``; any other is relative to the file's folder).
- ``auto`` (the default): ``.rst`` → sphinx, ``.mdx`` → docusaurus, anything else → mkdocs.
- ``template``: an explicit URL with ``{path}`` (the path without its suffix, ``a/b``) and ``{file}`` (with it).

A path ending in ``/`` names a folder: the folder's index page.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit

UrlStyle = Literal["auto", "mkdocs", "sphinx", "docusaurus", "template"]
URL_STYLES: tuple[UrlStyle, ...] = ("auto", "mkdocs", "sphinx", "docusaurus", "template")

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdown", ".mkd", ".mkdn"})
SPHINX_SOURCE_SUFFIXES = frozenset({".rst", ".md", ".txt"})
DOCUSAURUS_SUFFIXES = frozenset({".md", ".mdx"})
PLACEHOLDERS = ("{path}", "{file}")

# RFC 3986 pchar less "(" and ")": the URL goes into Markdown link destinations, where parentheses must balance.
_SEGMENT_SAFE = "-._~!$&'*+,;=:@"
_FRAGMENT_SAFE = _SEGMENT_SAFE + "/?%"


class PublishedUrlError(ValueError):
    """A URL base, style or template that cannot be used; the message says why."""


@dataclass(frozen=True, slots=True)
class PublishedSite:
    """A documentation site: where the ingested folder's pages are published, and how their URLs are made."""

    style: UrlStyle
    base: str = ""
    """Validated, without a trailing slash (empty for ``template``)."""
    template: str = ""

    @classmethod
    def create(cls, *, base: str | None, style: str = "auto", template: str | None = None) -> PublishedSite:
        """A checked site: ``base`` for the generator styles, ``template`` alone for ``template``."""
        if template:
            if style not in ("auto", "template"):
                raise PublishedUrlError(f"--url-template and --url-style {style} do not go together")
            return cls(style="template", template=check_template(template))
        if style == "template":
            raise PublishedUrlError("the template style needs --url-template")
        chosen = next((known for known in URL_STYLES if known == style), None)
        if chosen is None:
            raise PublishedUrlError(f"unknown URL style {style!r}; use one of {', '.join(URL_STYLES)}")
        if not base:
            raise PublishedUrlError("a URL style needs --url-base")
        return cls(style=chosen, base=check_base(base))

    def to_settings(self) -> dict[str, str]:
        """What a collection stores to keep using this site on later ingests."""
        return {"style": self.style, "base": self.base, "template": self.template}

    @classmethod
    def from_settings(cls, settings: object) -> PublishedSite | None:
        """The site a collection stored, if any (None for anything unusable: re-ingesting still works)."""
        if not isinstance(settings, dict):
            return None
        style, base, template = settings.get("style"), settings.get("base"), settings.get("template")
        try:
            return cls.create(
                base=base if isinstance(base, str) else None,
                style=style if isinstance(style, str) else "auto",
                template=template if isinstance(template, str) else None,
            )
        except PublishedUrlError:
            return None


def check_base(base: str) -> str:
    """``base`` without its trailing slash, if it is an http(s) URL with a host and nothing secret or extra."""
    _check_url(base, what="URL base", allow_query=False)
    return base.rstrip("/")


def check_template(template: str) -> str:
    """``template`` if it holds a placeholder after the host and forms a valid http(s) URL once filled."""
    if not any(p in template for p in PLACEHOLDERS):
        raise PublishedUrlError("a URL template needs {path} or {file}")
    filled = template.replace("{path}", "x").replace("{file}", "x")
    if "{" in filled or "}" in filled:
        raise PublishedUrlError("a URL template may only use the placeholders {path} and {file}")
    _check_url(filled, what="URL template", allow_query=True)
    scheme_end = template.find("://") + 3
    host_end = template.find("/", scheme_end)
    first = min(template.find(p) for p in PLACEHOLDERS if p in template)
    if host_end < 0 or first < host_end:
        raise PublishedUrlError("a URL template's placeholders must come after the host")
    return template


def _check_url(url: str, *, what: str, allow_query: bool) -> None:
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise PublishedUrlError(f"the {what} must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as error:
        raise PublishedUrlError(f"the {what} is not a valid URL ({error})") from None
    if parts.scheme not in ("http", "https"):
        raise PublishedUrlError(f"the {what} must start with http:// or https://")
    if not host:
        raise PublishedUrlError(f"the {what} has no host")
    if parts.username is not None or parts.password is not None:
        raise PublishedUrlError(f"the {what} must not hold credentials")
    if (parts.query and not allow_query) or parts.fragment or url.endswith(("?", "#")):
        raise PublishedUrlError(f"the {what} must not have a {'fragment' if allow_query else 'query or fragment'}")


def published_url(
    site: PublishedSite, path: str, *, slug: str | None = None, doc_id: str | None = None, fragment: str = ""
) -> str:
    """The URL of the page published from ``path`` (POSIX, relative to the ingested folder; ``a/`` is a folder).

    ``slug`` and ``doc_id`` are the page's front matter (only Docusaurus reads them); ``fragment`` (without
    ``#``) is appended, encoded where it must be.
    """
    path = path.lstrip("/")
    style = site.style
    if style == "auto":
        style = _auto_style(path)
    if style == "template":
        url = _template_url(site.template, path)
    elif style == "sphinx":
        url = site.base + "/" + _encode_path(_sphinx_path(path))
    elif style == "docusaurus":
        url = site.base + _encode_path(_docusaurus_route(path, slug=slug, doc_id=doc_id))
    else:
        url = site.base + "/" + _encode_path(_mkdocs_path(path))
    return f"{url}#{quote(fragment, safe=_FRAGMENT_SAFE)}" if fragment else url


def _auto_style(path: str) -> UrlStyle:
    suffix = posixpath.splitext(path)[1].lower()
    return "sphinx" if suffix == ".rst" else "docusaurus" if suffix == ".mdx" else "mkdocs"


def _encode_path(path: str) -> str:
    return "/".join(quote(segment, safe=_SEGMENT_SAFE) for segment in path.split("/"))


def _split(path: str) -> tuple[str, str, str]:
    """(folder with a trailing slash or "", stem, suffix); a folder path has an empty stem."""
    folder, name = posixpath.split(path)
    stem, suffix = posixpath.splitext(name)
    return (folder + "/" if folder else ""), stem, suffix


def _mkdocs_path(path: str) -> str:
    folder, stem, suffix = _split(path)
    if not stem:
        return folder
    if suffix.lower() not in MARKDOWN_SUFFIXES:
        return path  # copied to the site as it is
    return folder if stem in ("index", "README") else f"{folder}{stem}/"


def _sphinx_path(path: str) -> str:
    folder, stem, suffix = _split(path)
    if not stem:
        return f"{folder}index.html"
    return f"{folder}{stem}.html" if suffix.lower() in SPHINX_SOURCE_SUFFIXES else path


def _docusaurus_route(path: str, *, slug: str | None, doc_id: str | None) -> str:
    folder, stem, suffix = _split(path)
    folders = [strip_number_prefix(part) for part in folder.strip("/").split("/") if part]
    folder_route = "/" + "".join(f"{part}/" for part in folders)
    if stem and suffix.lower() not in DOCUSAURUS_SUFFIXES:
        return "/" + path  # not a doc: served as it is
    if slug:
        # As Docusaurus resolves it: absolute from the docs route, else relative to the file's folder.
        route = posixpath.normpath(slug if slug.startswith("/") else folder_route + slug)
        route = "/" if route in (".", "/", "//") else "/" + route.lstrip("/")
        return route + ("/" if slug.endswith("/") and route != "/" else "")
    name = strip_number_prefix(stem)
    parent = folders[-1] if folders else ""
    if not stem or name.lower() in ("index", "readme") or (parent and name.lower() == parent.lower()):
        return folder_route
    return folder_route + (doc_id or name)


def strip_number_prefix(name: str) -> str:
    """Docusaurus' number prefixes: ``01-intro``, ``01_intro``, ``1. intro`` → ``intro``; dates and versions
    (``2021-01-31-x``, ``7.0-x``) and names that would come out empty are kept."""
    digits = 0
    while digits < len(name) and name[digits].isdigit():
        digits += 1
    i = digits
    while i < len(name) and name[i] == " ":
        i += 1
    separators = i
    while i < len(name) and name[i] in "-_.":
        i += 1
    if digits == 0 or i == separators:
        return name
    if i < len(name) and name[i].isdigit():
        return name  # "2021-01-31 x" or "7.0-x": a date or a version, not an ordering prefix
    while i < len(name) and name[i] == " ":
        i += 1
    return name[i:] or name


def _template_url(template: str, path: str) -> str:
    folder, stem, _ = _split(path)
    without_suffix = f"{folder}{stem}" if stem else folder.rstrip("/") + "/index"
    # One pass over the template: a path containing "{file}" must not be substituted again.
    values = {"{path}": _encode_path(without_suffix), "{file}": _encode_path(path if stem else without_suffix)}
    out: list[str] = []
    i = 0
    while i < len(template):
        placeholder = next((p for p in PLACEHOLDERS if template.startswith(p, i)), None)
        if placeholder is None:
            out.append(template[i])
            i += 1
        else:
            out.append(values[placeholder])
            i += len(placeholder)
    return "".join(out)

"""The GitHub repository connector: the Markdown, reStructuredText and text files of a branch, chosen by globs.

A sync lists the branch's whole tree in one request (``knowledge.sources.github_api``); each file's version is its
git blob sha, which changes exactly when its content does. So an unchanged file is skipped by the sync engine
without any request for its body, and a re-sync of an unchanged repository costs one or two requests in all.

Each file is loaded by the loader ``threadwise ingest`` uses for its type, and links to where people read it: the
file on GitHub (``{web}/{owner}/{repo}/blob/{branch}/{path}``), or, with ``url_base``, its page on the published
site, made from its path in ``site_folder`` as ``ingest --url-base`` makes it (``knowledge.published``). Relative
links inside a file lead to the same places.
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote, urlsplit

from pathspec import GitIgnoreSpec
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from core.logging import get_logger
from knowledge.documents import SourceDocument
from knowledge.link_resolution import publish_document
from knowledge.loaders import SUPPORTED_SUFFIXES, LoadError
from knowledge.loaders.files import load_bytes
from knowledge.published import PublishedSite, check_base
from knowledge.sources.connectors import ConnectorKind, RunContext
from knowledge.sources.github_api import GithubApi, RepositoryFile
from knowledge.sources.http import SourceHttp
from knowledge.sources.protocol import ConnectorError, Fetched, Gone, ItemRef, NotModified
from knowledge.sources.secrets import TokenRef, reveal

log = get_logger(__name__)

DEFAULT_GLOBS = ("*.md", "*.mdx", "*.markdown", "*.rst", "*.txt", "!.*", "!**/.*/**")
"""Documentation files anywhere in the repository, but not hidden ones (``.github/``: templates, not docs)."""
DEFAULT_API_URL = "https://api.github.com"
DEFAULT_MAX_BYTES = 20_000_000
_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/(?!\.\.?$)[A-Za-z0-9._-]{1,100}$")
# What git refuses in a branch name (git check-ref-format), and what would break a URL.
_BAD_BRANCH = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|^[/.-]|[/.]$|\.lock$")


class GithubSettings(BaseModel):
    """A GitHub repository source's settings, as stored on the source (``sources.settings``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: str
    """``owner/name``."""
    branch: str | None = None
    """None: the repository's default branch, asked for at each sync."""
    globs: tuple[str, ...] = Field(default=DEFAULT_GLOBS, min_length=1)
    """Which files, as ``.gitignore`` patterns over paths from the repository's root (``docs/**/*.md``; ``!`` to
    leave out). Files no loader reads (images, code) are left out whatever the globs say."""
    url_base: str | None = None
    """Where ``site_folder`` is published: links then go to the site's pages instead of the files on GitHub."""
    url_style: Literal["auto", "mkdocs", "sphinx", "docusaurus"] = "auto"
    site_folder: str = ""
    """The repository folder the site is built from (``docs``); files outside it link to GitHub."""
    api_url: str = DEFAULT_API_URL
    """GitHub Enterprise Server: ``https://HOST/api/v3``."""
    token: TokenRef | None = None
    """None: anonymous, for a public repository (60 requests an hour)."""
    max_files: int = Field(default=2000, ge=1)
    max_requests: int | None = Field(default=None, ge=1)
    """The request budget of one sync; None: two per file plus a hundred."""

    @field_validator("repository")
    @classmethod
    def _owner_and_name(cls, value: str) -> str:
        if not _REPOSITORY.match(value):
            raise ValueError(f"not OWNER/NAME of a GitHub repository: {value!r}")
        return value

    @field_validator("branch")
    @classmethod
    def _branch_name(cls, value: str | None) -> str | None:
        if value is not None and (not value or _BAD_BRANCH.search(value)):
            raise ValueError(f"not a branch name: {value!r}")
        return value

    @field_validator("globs")
    @classmethod
    def _patterns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for glob in value:
            try:
                GitIgnoreSpec.from_lines([glob])
            except ValueError:
                raise ValueError(f"not a glob: {glob!r}") from None
        return value

    @field_validator("url_base")
    @classmethod
    def _site(cls, value: str | None) -> str | None:
        return check_base(value) if value is not None else None

    @field_validator("site_folder")
    @classmethod
    def _folder(cls, value: str) -> str:
        folder = value.strip("/")
        if folder and ".." in folder.split("/"):
            raise ValueError(f"a folder inside the repository, not {value!r}")
        return folder

    @field_validator("api_url")
    @classmethod
    def _api(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname or parts.username or parts.query:
            raise ValueError(f"not an http(s) API URL (no credentials, no query): {value!r}")
        return value.rstrip("/")

    @property
    def request_budget(self) -> int:
        return self.max_requests or 2 * self.max_files + 100


@dataclass(frozen=True, slots=True)
class RepositoryLinks:
    """Where people read a file of the repository: on GitHub, or on the published site."""

    repository_url: str
    """``https://github.com/owner/name`` (the Enterprise host's for an Enterprise API)."""
    branch: str
    site: PublishedSite | None = None
    site_folder: str = ""

    def github(self, path: str) -> str:
        # Slashes stay: GitHub reads "blob/release/2.0/docs/a.md" by the longest branch name that fits.
        return f"{self.repository_url}/blob/{quote(self.branch, safe='/')}/{quote(path, safe='/')}"

    def site_path(self, path: str) -> str | None:
        """``path`` relative to the site's folder; None when no site is known or the file is outside it."""
        if self.site is None:
            return None
        if not self.site_folder:
            return path
        return path.removeprefix(self.site_folder + "/") if path.startswith(self.site_folder + "/") else None


def repository_url(api_url: str, repository: str) -> str:
    """The repository's web address: github.com's for the public API, else the Enterprise host's."""
    parts = urlsplit(api_url)
    web = "https://github.com" if parts.hostname == "api.github.com" else f"{parts.scheme}://{parts.netloc}"
    return f"{web}/{repository}"


def repository_document(raw: bytes, path: str, links: RepositoryLinks) -> SourceDocument:
    """A file's bytes as ``threadwise ingest`` would load the file, at its GitHub address, with its link (and the
    links inside it) to GitHub or to its published page. Raises :class:`LoadError` when it is no document."""
    document = load_bytes(raw, path, source_uri=path)
    github = links.github(path)
    site_path = links.site_path(path)
    if site_path is None:  # read on GitHub: relative links resolve there too
        published = publish_document(dataclasses.replace(document, source_uri=github), site=None, site_path=None)
    else:
        published = publish_document(document, site=links.site, site_path=site_path)
    return dataclasses.replace(published, source_uri=github)


class GithubConnector:
    """A GitHub repository as a source. One instance per sync run (its request budget is the run's)."""

    kind = "github"

    def __init__(
        self,
        settings: GithubSettings,
        *,
        secret_key: SecretStr | None = None,
        http: SourceHttp | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``secret_key`` opens a sealed token; ``http``: the client to use (tests inject one), by default one
        with ``settings.request_budget``; files over ``max_bytes`` are left out."""
        self.settings = settings
        self._secret_key = secret_key
        self._max_bytes = max_bytes
        self._http = http or SourceHttp(max_requests=settings.request_budget, max_bytes=max_bytes)
        self._owns_http = http is None
        self._api = GithubApi(self._http, api_url=settings.api_url, repository=settings.repository, clock=clock)
        self._globs = GitIgnoreSpec.from_lines(settings.globs)
        self._links: RepositoryLinks | None = None
        """Known once ``items()`` knows the branch."""

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def items(self) -> AsyncIterator[ItemRef]:
        settings = self.settings
        # Here, not in the constructor: a missing token fails this run and is shown as the source's last error.
        self._api.authorize(reveal(settings.token, self._secret_key) if settings.token is not None else None)
        branch = settings.branch or await self._api.default_branch()
        site = PublishedSite.create(base=settings.url_base, style=settings.url_style) if settings.url_base else None
        links = self._links = RepositoryLinks(
            repository_url(settings.api_url, settings.repository), branch, site, settings.site_folder
        )
        files = [file for file in await self._api.files(branch) if self._wanted(file)]
        where = f"{settings.repository} (branch {branch!r})"
        if not files:
            # More likely a glob that matches nothing than a repository without docs: failing keeps what is indexed.
            raise ConnectorError(f"no file of {where} matches the globs {' '.join(settings.globs)}")
        if len(files) > settings.max_files:
            raise ConnectorError(
                f"{len(files)} files of {where} match the globs, more than max_files ({settings.max_files}); "
                "narrow the globs or raise max_files"
            )
        log.info("github_listed", repository=settings.repository, branch=branch, files=len(files))
        for file in files:
            yield ItemRef(key=file.path, url=links.github(file.path), version=file.sha)

    async def fetch(self, item: ItemRef, known_version: str | None) -> Fetched | NotModified | Gone:
        assert self._links is not None and item.version is not None  # noqa: S101 - items() lists each with its sha
        raw = await self._api.blob(item.version)
        if raw is None:
            return Gone()
        try:
            document = repository_document(raw, item.key, self._links)
        except LoadError as error:
            # Nothing can be indexed from it (binary data behind a text suffix): treated as gone, no stale copy.
            log.warning("github_file_skipped", repository=self.settings.repository, path=item.key, reason=error.reason)
            return Gone()
        return Fetched(document, item.version)

    def _wanted(self, file: RepositoryFile) -> bool:
        suffix = posixpath.splitext(file.path)[1].lower()
        if not self._globs.match_file(file.path) or (suffix and suffix not in SUPPORTED_SUFFIXES):
            return False
        if file.size is not None and file.size > self._max_bytes:
            log.warning("github_file_skipped", repository=self.settings.repository, path=file.path, size=file.size)
            return False
        return True


def _build(settings: GithubSettings, context: RunContext) -> GithubConnector:
    return GithubConnector(settings, secret_key=context.secret_key, max_bytes=context.max_bytes)


KIND = ConnectorKind(kind="github", settings=GithubSettings, build=_build)

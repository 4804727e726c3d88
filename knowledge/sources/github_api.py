"""GitHub's REST API as the GitHub connector uses it: a repository's default branch, a branch's whole tree (each
file's path and git blob sha), and blob bodies, with GitHub's refusals turned into reasons people can act on.

Only documented endpoints, with the headers GitHub asks for (``Accept: application/vnd.github+json``,
``X-GitHub-Api-Version: 2022-11-28``, ``Authorization: Bearer`` when there is a token):

- ``GET /repos/{owner}/{repo}``: ``default_branch``;
- ``GET /repos/{owner}/{repo}/git/trees/{branch}?recursive=1``: every blob, with its sha. A tree too big for one
  answer (over 100,000 entries or 7 MB) comes back ``truncated``: then the tree is listed one level at a time, each
  folder asked for recursively again, so only the folders that are themselves too big cost more requests;
- ``GET /repos/{owner}/{repo}/git/blobs/{sha}`` with the raw media type: the file's bytes, no base64.

Rate limits: a 429 is waited out (as its ``Retry-After`` asks) and retried by :class:`SourceHttp`. A 403 is not
retried: with ``x-ratelimit-remaining: 0`` the hour's quota is spent, which no short wait fixes, so the run fails
saying when it comes back (the next run goes on from there: what this one stored is not fetched again); with a
``Retry-After`` (a secondary limit) the run fails saying how long to wait.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from knowledge.sources.http import SourceHttp, SourceResponse, retry_after_seconds
from knowledge.sources.protocol import ConnectorError

API_VERSION = "2022-11-28"
JSON_MEDIA_TYPE = "application/vnd.github+json"
RAW_MEDIA_TYPE = "application/vnd.github.raw+json"
"""Asks the blobs endpoint for the file's bytes as they are."""


@dataclass(frozen=True, slots=True)
class RepositoryFile:
    """A file (a git blob) of a branch's tree."""

    path: str
    sha: str
    """The git blob sha: changes exactly when the file's content does."""
    size: int | None


class _Repository(BaseModel):
    default_branch: str


class _TreeEntry(BaseModel):
    path: str
    mode: str
    type: str
    sha: str
    size: int | None = None


class _Tree(BaseModel):
    tree: list[_TreeEntry]
    truncated: bool = False


_Model = TypeVar("_Model", bound=BaseModel)
_SYMLINK_MODE = "120000"
"""A symbolic link's blob holds the target's path, not a document."""


class GithubApi:
    """One repository's API, for one sync run (its requests go through the run's :class:`SourceHttp`)."""

    def __init__(
        self,
        http: SourceHttp,
        *,
        api_url: str,
        repository: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._base = f"{api_url.rstrip('/')}/repos/{repository}"
        self.repository = repository
        self._clock = clock
        self._headers = {"Accept": JSON_MEDIA_TYPE, "X-GitHub-Api-Version": API_VERSION}
        self._has_token = False

    def authorize(self, token: str | None) -> None:
        """Send ``token`` with every request from now on (None: anonymous, for a public repository)."""
        self._has_token = token is not None
        self._headers.pop("Authorization", None)
        if token is not None:
            self._headers["Authorization"] = f"Bearer {token}"

    async def default_branch(self) -> str:
        response = await self._get("", what="the repository", missing=self._not_found(""))
        return _parse(_Repository, response, what="the repository").default_branch

    async def files(self, branch: str) -> list[RepositoryFile]:
        """Every file of ``branch``'s tree, sorted by path (submodules and symbolic links left out)."""
        # Encoded whole: the API reads "release/2.0" as a branch only with its slash encoded.
        found = await self._walk(quote(branch, safe=""), prefix="", branch=branch)
        return sorted(found, key=lambda file: file.path)

    async def blob(self, sha: str) -> bytes | None:
        """A blob's bytes; None when the repository no longer has it (a force-push since the listing)."""
        response = await self._get(f"/git/blobs/{sha}", what=f"blob {sha}", accept=RAW_MEDIA_TYPE, missing=None)
        return None if response.status == 404 else response.content

    async def _walk(self, tree: str, *, prefix: str, branch: str) -> list[RepositoryFile]:
        what, missing = f"the tree of branch {branch!r}", self._not_found(branch)
        listing = await self._get(f"/git/trees/{tree}?recursive=1", what=what, missing=missing)
        parsed = _parse(_Tree, listing, what=what)
        if not parsed.truncated:
            return _blobs(parsed.tree, prefix)
        # Too big for one answer: this level alone, then each folder on its own (recursively again).
        level = _parse(_Tree, await self._get(f"/git/trees/{tree}", what=what, missing=missing), what=what)
        if level.truncated:
            raise ConnectorError(
                f"the folder {prefix or '/'} of {self.repository} has more entries than GitHub's API lists at once"
            )
        found = _blobs(level.tree, prefix)
        for entry in level.tree:
            if entry.type == "tree":
                found += await self._walk(entry.sha, prefix=f"{prefix}{entry.path}/", branch=branch)
        return found

    def _not_found(self, branch: str) -> str:
        place = f"repository {self.repository}" + (f" or its branch {branch!r}" if branch else "")
        return f"GitHub: {place} not found (or the token cannot see it)"

    async def _get(self, path: str, *, what: str, missing: str | None, accept: str | None = None) -> SourceResponse:
        """GET ``path`` of the repository's API; any answer but a 200 fails the run, saying why. A 404 says
        ``missing``, or comes back to the caller when that is None."""
        headers = self._headers if accept is None else {**self._headers, "Accept": accept}
        response = await self._http.get(self._base + path, headers=headers, follow_redirects=True)
        if response.status == 200 or (response.status == 404 and missing is None):
            return response
        if response.status == 404 and missing is not None:
            raise ConnectorError(missing)
        raise ConnectorError(self._refusal(response, what=what))

    def _refusal(self, response: SourceResponse, *, what: str) -> str:
        """Why GitHub said no, for the source's last error (GitHub's own message, never our request's headers)."""
        status, headers, message = response.status, response.headers, _message(response)
        if status in {403, 429}:
            if headers.get("x-ratelimit-remaining") == "0":
                return self._rate_limit_spent(headers.get("x-ratelimit-reset"))
            retry_after = retry_after_seconds(headers.get("retry-after"), now=self._clock())
            if retry_after is not None or "rate limit" in message.lower():
                wait = f"{math.ceil(retry_after)} s" if retry_after is not None else "a minute"
                return f"GitHub's secondary rate limit stopped the sync ({message}); try again in {wait} or more"
        if status == 401:
            return f"GitHub: token rejected (HTTP 401: {message}); check that it is valid and not expired"
        if status == 403:
            return (
                f"GitHub refused access to {self.repository} (HTTP 403: {message}); "
                "the token needs read-only Contents permission on it"
            )
        if status == 409:
            return f"GitHub: repository {self.repository} is empty ({message})"
        return f"GitHub answered HTTP {status} for {what} of {self.repository} ({message})"

    def _rate_limit_spent(self, reset: str | None) -> str:
        advice = "" if self._has_token else "; a token raises it from 60 requests an hour to 5,000"
        if reset is None or not reset.isdigit():
            return f"GitHub's API rate limit is used up{advice}"
        minutes = max(0, math.ceil((int(reset) - self._clock()) / 60))
        until = datetime.fromtimestamp(int(reset), UTC)
        return (
            f"GitHub's API rate limit is used up until {until:%Y-%m-%d %H:%M} UTC (in {minutes} min); "
            f"a run after that goes on where this one stopped{advice}"
        )


def _blobs(entries: list[_TreeEntry], prefix: str) -> list[RepositoryFile]:
    return [
        RepositoryFile(path=prefix + entry.path, sha=entry.sha, size=entry.size)
        for entry in entries
        if entry.type == "blob" and entry.mode != _SYMLINK_MODE
    ]


def _parse(model: type[_Model], response: SourceResponse, *, what: str) -> _Model:
    try:
        return model.model_validate(response.json())
    except (ValueError, ValidationError):  # not JSON, or not the documented shape
        raise ConnectorError(f"GitHub's answer for {what} was not understood") from None


def _message(response: SourceResponse) -> str:
    """GitHub's ``message`` from an error body (``{"message": …, "documentation_url": …}``), kept short."""
    try:
        body: Any = response.json()
    except ValueError:
        return "no details"
    message = body.get("message") if isinstance(body, dict) else None
    return " ".join(str(message).split())[:200] if message else "no details"

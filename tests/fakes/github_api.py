"""A fake of GitHub's REST API on 127.0.0.1 for the GitHub connector: one repository with branches of files, served
as GitHub documents it (``GET /repos/{owner}/{repo}``, ``…/git/trees/{ref}[?recursive=1]``, ``…/git/blobs/{sha}``
as base64 JSON or, with ``Accept: application/vnd.github.raw+json``, raw), with real git object ids (a blob's sha
is git's, so it changes exactly when the content does), ``truncated`` listings past a size, GitHub's error bodies
and rate-limit headers, a bearer token check, failures to inject and a log of every request.

Faithful where the connector relies on it: a branch name in a tree URL must have its slashes encoded (an unencoded
one is a 404, as on GitHub); a private repository (``token`` set) is a 404 without a token and a 401 with a wrong
one; an empty repository's tree is a 409.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.fakes.http_server import send_bytes, send_json, serving

RATE_LIMIT_RESET = 1_900_000_000
"""``x-ratelimit-reset`` (epoch seconds) of every answer: 2030-03-17 17:46:40 UTC."""
DOCS = "https://docs.github.com/rest"


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    """With its query string, as sent."""
    route: str
    """``repository``, ``tree``, ``blob`` or ``other``."""
    accept: str | None
    api_version: str | None
    authorization: str | None
    status: int


@dataclass(frozen=True, slots=True)
class Failure:
    status: int
    headers: dict[str, str]
    message: str


@dataclass(frozen=True, slots=True)
class _Node:
    """A git object of the served trees: a blob (``content``) or a tree (``children``: name → node)."""

    sha: str
    content: bytes | None = None
    children: tuple[tuple[str, _Node], ...] = ()

    @property
    def is_tree(self) -> bool:
        return self.content is None


@dataclass
class FakeGithub:
    """The repository's state; tests edit it between syncs. ``base_url`` is set once it serves."""

    files: dict[str, bytes] = field(default_factory=dict)
    """Path → content of the default branch."""
    owner: str = "acme"
    name: str = "handbook"
    default_branch: str = "main"
    token: str | None = None
    """When set, the repository is private: requests must carry ``Authorization: Bearer <token>``."""
    truncate_over: int | None = None
    """A tree listing with more entries than this comes back cut short, with ``truncated: true``."""
    base_url: str = ""
    branches: dict[str, dict[str, bytes]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.branches.setdefault(self.default_branch, self.files)

    @property
    def repository(self) -> str:
        return f"{self.owner}/{self.name}"

    # What tests change between syncs.

    def write(self, path: str, content: str | bytes, *, branch: str | None = None) -> None:
        with self._lock:
            self._files(branch)[path] = content.encode() if isinstance(content, str) else content

    def edit(self, path: str, old: str, new: str, *, branch: str | None = None) -> None:
        with self._lock:
            files = self._files(branch)
            text = files[path].decode()
            assert old in text, f"{old!r} is not in {path}"
            files[path] = text.replace(old, new).encode()

    def delete(self, path: str, *, branch: str | None = None) -> None:
        with self._lock:
            del self._files(branch)[path]

    def fail(
        self, route: str, status: int, headers: Mapping[str, str] | None = None, *, message: str = "", times: int = 1
    ) -> None:
        """Answer the next ``times`` requests for ``route`` (a path without its query, see :meth:`blob_route`,
        or ``*`` for any) with ``status``, ``headers`` and GitHub's error body carrying ``message``."""
        failure = Failure(status, dict(headers or {}), message or _REASONS.get(status, "Error"))
        with self._lock:
            self.failures.setdefault(route, []).extend(failure for _ in range(times))

    def spend_rate_limit(self, route: str = "*", *, times: int = 1) -> None:
        """GitHub's answer once the hour's quota is used up: a 403 with ``x-ratelimit-remaining: 0``."""
        self.fail(
            route,
            403,
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(RATE_LIMIT_RESET)},
            message="API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please "
            "include the request ID.",
            times=times,
        )

    # What tests read.

    def repository_route(self) -> str:
        return f"/repos/{self.owner}/{self.name}"

    def tree_route(self, branch: str | None = None) -> str:
        return f"{self.repository_route()}/git/trees/{(branch or self.default_branch).replace('/', '%2F')}"

    def blob_route(self, path: str, *, branch: str | None = None) -> str:
        with self._lock:
            return f"{self.repository_route()}/git/blobs/{git_sha('blob', self._files(branch)[path])}"

    def mark(self) -> int:
        """The number of requests so far: pass it as ``since`` to look only at what follows."""
        with self._lock:
            return len(self.requests)

    def log(self, *, since: int = 0, route: str | None = None) -> list[Request]:
        with self._lock:
            return [r for r in self.requests[since:] if route is None or r.route == route]

    def blobs_sent(self, *, since: int = 0) -> list[str]:
        """The paths of the files whose bodies were sent (200 answers to blob requests), in order."""
        with self._lock:
            by_sha = {
                git_sha("blob", content): path for files in self.branches.values() for path, content in files.items()
            }
            return [
                by_sha.get(r.path.rsplit("/", 1)[-1], "?")
                for r in self.requests[since:]
                if r.route == "blob" and r.status == 200
            ]

    # Serving.

    def respond(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        route = parts.path
        prefix = self.repository_route()
        kind = (
            "repository"
            if route == prefix
            else "tree"
            if route.startswith(prefix + "/git/trees/")
            else "blob"
            if route.startswith(prefix + "/git/blobs/")
            else "other"
        )
        with self._lock:
            failure = self._next_failure(route)
            status, headers, body = self._answer(handler, route, kind, parts.query, failure)
            self.requests.append(
                Request(
                    path=handler.path,
                    route=kind,
                    accept=handler.headers.get("Accept"),
                    api_version=handler.headers.get("X-GitHub-Api-Version"),
                    authorization=handler.headers.get("Authorization"),
                    status=status,
                )
            )
        headers = {**self._rate_headers(handler), **headers}
        if isinstance(body, bytes):
            send_bytes(handler, status, body, "application/vnd.github.raw", headers)
        else:
            send_json(handler, status, body, headers)

    def _answer(
        self, handler: BaseHTTPRequestHandler, route: str, kind: str, query: str, failure: Failure | None
    ) -> tuple[int, dict[str, str], Any]:
        if failure is not None:
            return failure.status, failure.headers, _error(failure.status, failure.message)
        if self.token is not None:
            given = handler.headers.get("Authorization")
            if given is None:
                return 404, {}, _error(404, "Not Found")  # a private repository is not there for strangers
            if given != f"Bearer {self.token}":
                return 401, {}, _error(401, "Bad credentials")
        if kind == "repository":
            return 200, {}, self._repository_json()
        if kind == "tree":
            return self._tree(route.removeprefix(self.repository_route() + "/git/trees/"), query)
        if kind == "blob":
            return self._blob(handler, route.rsplit("/", 1)[-1])
        return 404, {}, _error(404, "Not Found")

    def _repository_json(self) -> dict[str, Any]:
        return {
            "id": 1296269,
            "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
            "name": self.name,
            "full_name": self.repository,
            "owner": {"login": self.owner, "id": 1, "type": "Organization"},
            "private": self.token is not None,
            "html_url": f"https://github.com/{self.repository}",
            "url": f"{self.base_url}{self.repository_route()}",
            "default_branch": self.default_branch,
            "visibility": "private" if self.token is not None else "public",
        }

    def _tree(self, ref: str, query: str) -> tuple[int, dict[str, str], Any]:
        if "/" in ref:  # GitHub reads only an encoded slash as part of the ref
            return 404, {}, _error(404, "Not Found")
        objects = self._objects()
        name = unquote(ref)
        if name in self.branches and not self.branches[name]:
            return 409, {}, _error(409, "Git Repository is empty.")
        node = objects.get(_root_sha(self.branches[name])) if name in self.branches else objects.get(name)
        if node is None or not node.is_tree:
            return 404, {}, _error(404, "Not Found")
        recursive = bool(parse_qs(query).get("recursive"))
        entries = list(self._entries(node, "", recursive=recursive))
        truncated = self.truncate_over is not None and len(entries) > self.truncate_over
        if truncated:
            entries = entries[: self.truncate_over]
        return (
            200,
            {},
            {"sha": node.sha, "url": self._api(f"/git/trees/{node.sha}"), "tree": entries, "truncated": truncated},
        )

    def _entries(self, node: _Node, prefix: str, *, recursive: bool) -> Iterator[dict[str, Any]]:
        for name, child in node.children:
            path = prefix + name
            if child.is_tree:
                yield {
                    "path": path,
                    "mode": "040000",
                    "type": "tree",
                    "sha": child.sha,
                    "url": self._api(f"/git/trees/{child.sha}"),
                }
                if recursive:
                    yield from self._entries(child, path + "/", recursive=True)
            else:
                assert child.content is not None
                yield {
                    "path": path,
                    "mode": "100644",
                    "type": "blob",
                    "sha": child.sha,
                    "size": len(child.content),
                    "url": self._api(f"/git/blobs/{child.sha}"),
                }

    def _blob(self, handler: BaseHTTPRequestHandler, sha: str) -> tuple[int, dict[str, str], Any]:
        node = self._objects().get(sha)
        if node is None or node.content is None:
            return 404, {}, _error(404, "Not Found")
        if "application/vnd.github.raw" in (handler.headers.get("Accept") or ""):
            return 200, {}, node.content
        encoded = base64.b64encode(node.content).decode()
        content = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n"  # as GitHub wraps it
        return (
            200,
            {},
            {
                "sha": sha,
                "node_id": "B_" + sha[:16],
                "size": len(node.content),
                "url": self._api(f"/git/blobs/{sha}"),
                "content": content,
                "encoding": "base64",
            },
        )

    def _objects(self) -> dict[str, _Node]:
        """Every blob and tree of every branch, by sha."""
        objects: dict[str, _Node] = {}
        for files in self.branches.values():
            _collect(_build_tree(files), objects)
        return objects

    def _next_failure(self, route: str) -> Failure | None:
        for key in (route, "*"):
            queued = self.failures.get(key)
            if queued:
                return queued.pop(0)
        return None

    def _rate_headers(self, handler: BaseHTTPRequestHandler) -> dict[str, str]:
        limit = 5000 if handler.headers.get("Authorization") else 60
        with self._lock:
            used = len(self.requests)
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(1, limit - used)),
            "x-ratelimit-reset": str(RATE_LIMIT_RESET),
            "x-ratelimit-used": str(used),
            "x-ratelimit-resource": "core",
            "x-github-api-version-selected": "2022-11-28",
        }

    def _files(self, branch: str | None) -> dict[str, bytes]:
        return self.branches.setdefault(branch or self.default_branch, {})

    def _api(self, path: str) -> str:
        return f"{self.base_url}{self.repository_route()}{path}"


@contextmanager
def serving_github(github: FakeGithub) -> Iterator[FakeGithub]:
    """Serve ``github`` on 127.0.0.1 until the block ends; ``github.base_url`` is its API URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            github.respond(self)

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

    with serving(Handler, name="fake-github") as base_url:
        github.base_url = base_url
        yield github


def git_sha(kind: str, content: bytes) -> str:
    """Git's object id: the sha1 of ``"<kind> <size>\\0"`` and the content."""
    return hashlib.sha1(f"{kind} {len(content)}\0".encode() + content, usedforsecurity=False).hexdigest()


def _build_tree(files: Mapping[str, bytes]) -> _Node:
    folders: dict[str, dict[str, bytes]] = {}
    blobs: dict[str, bytes] = {}
    for path, content in files.items():
        head, _, rest = path.partition("/")
        if rest:
            folders.setdefault(head, {})[rest] = content
        else:
            blobs[head] = content
    children = {name: _Node(git_sha("blob", content), content=content) for name, content in blobs.items()}
    children.update({name: _build_tree(inner) for name, inner in folders.items()})
    ordered = tuple(sorted(children.items()))
    # A tree object: "<mode> <name>\0<20-byte sha>" per entry.
    body = b"".join(
        f"{'40000' if node.is_tree else '100644'} {name}\0".encode() + bytes.fromhex(node.sha) for name, node in ordered
    )
    return _Node(git_sha("tree", body), children=ordered)


def _root_sha(files: Mapping[str, bytes]) -> str:
    return _build_tree(files).sha


def _collect(node: _Node, objects: dict[str, _Node]) -> None:
    objects[node.sha] = node
    for _, child in node.children:
        _collect(child, objects)


_REASONS = {401: "Bad credentials", 403: "Forbidden", 404: "Not Found", 429: "Too Many Requests", 500: "Server Error"}


def _error(status: int, message: str) -> dict[str, str]:
    """GitHub's error body."""
    return {"message": message, "documentation_url": DOCS, "status": str(status)}


def handbook(topics: int = 12) -> dict[str, bytes]:
    """A repository's files: documentation in Markdown, MDX, reStructuredText and text, plus files the default
    globs leave out (code, an image, hidden templates). Each topic page has three sections."""
    files: dict[str, str | bytes] = {
        "README.md": "# Handbook\n\nThe team handbook. Start with [the guide](docs/index.md).\n",
        "docs/index.md": "# Guide\n\nRead [topic 1](topics/topic-1.md) first, then [the API](reference/api.rst).\n",
        "docs/reference/api.rst": "API reference\n=============\n\nThe API answers in JSON and pages with cursors.\n",
        "docs/components.mdx": "---\ntitle: Components\n---\n\nimport Tabs from '@theme/Tabs';\n\n# Components\n\n"
        "Buttons come in three sizes.\n",
        "notes/changelog.txt": "Version 2 moved the build to a single command.\n",
        "src/app.py": "print('not documentation')\n",
        "docs/logo.png": b"\x89PNG\r\n\x1a\n\0\0\0",
        ".github/ISSUE_TEMPLATE/bug.md": "# Bug report\n\nDescribe the bug.\n",
    }
    files["docs/operations.md"] = "# Operations\n\n" + "\n".join(_runbook(number) for number in range(6))
    for number in range(topics):
        files[f"docs/topics/topic-{number}.md"] = (
            f"# Topic {number}\n\n## Overview\n\nTopic {number} explains subject {number} in a few words.\n\n"
            f"## Setup\n\nSetting up topic {number} takes one command.\n\n"
            f"## Troubleshooting\n\nWhen topic {number} fails, read its log first.\n"
        )
    return {path: content.encode() if isinstance(content, str) else content for path, content in files.items()}


_WORDS = ("latency", "budget", "replica", "shard", "quorum", "lease", "backoff", "journal", "snapshot", "ledger")


def _runbook(number: int) -> str:
    """A section long enough to be a chunk of its own."""
    body = " ".join(f"{_WORDS[(number + i) % len(_WORDS)]}{i % 7}" for i in range(160))
    return f"## Runbook {number}\n\nRunbook {number} covers {body}.\n"


DOC_PATHS_BESIDES_TOPICS = (
    "README.md",
    "docs/operations.md",
    "docs/index.md",
    "docs/reference/api.rst",
    "docs/components.mdx",
    "notes/changelog.txt",
)
"""The files of :func:`handbook` the default globs take, besides the topic pages."""

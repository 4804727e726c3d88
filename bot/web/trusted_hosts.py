"""Only requests addressed to this server's own names are served (``WEB_ALLOWED_HOSTS``).

DNS rebinding: a web page on ``evil.example`` points its name at 127.0.0.1 and then calls "its own" server,
which is ours, with the browser's blessing; without a token the local dashboard and API would answer it. The
browser still sends ``Host: evil.example``, so refusing unknown host names closes that door.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.web.problems import problem, problem_response
from core.logging import get_logger
from core.settings import Settings

log = get_logger(__name__)

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
"""Always served: a page can only send these as Host from the same machine's own origins."""
ANY_INTERFACE = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 (compared with WEB_HOST, not bound)
PROBE_PATHS = frozenset({"/healthz", "/readyz"})
"""Kubernetes probes send the pod's IP as Host; these two tell a stranger nothing but ok / not ok."""
HOST_TRUSTED = "host_trusted"
"""Set in the request's state: whether its Host is one of this server's names."""


def host_name(host: str) -> str:
    """The name in a Host header or a configured entry: ``Example.COM:8000`` → ``example.com``,
    ``[::1]:8000`` → ``::1``."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") > 1:  # a bare IPv6 address, as WEB_HOST may hold one
        return host
    return host.partition(":")[0].rstrip(".")


def allowed_host_names(settings: Settings) -> list[str]:
    """Loopback names, ``WEB_HOST`` when it names one host, and ``WEB_ALLOWED_HOSTS``."""
    names = [*LOOPBACK_NAMES, *(host_name(entry) for entry in settings.web.allowed_hosts)]
    listen = host_name(settings.web.host)
    if listen not in ANY_INTERFACE:
        names.append(listen)
    if settings.environment == "production" and not settings.web.allowed_hosts and listen in ANY_INTERFACE:
        log.warning(
            "WEB_ALLOWED_HOSTS is unset: only loopback host names are served; set it to the public name(s)",
            allowed=names,
        )
    return list(dict.fromkeys(names))


def _matches(name: str, patterns: Iterable[str]) -> bool:
    for pattern in patterns:
        if pattern in ("*", name) or (pattern.startswith("*.") and name.endswith(pattern[1:])):
            return True
    return False


class TrustedHostMiddleware:
    """Pure ASGI middleware: a request for another host name gets 400 before any route sees it."""

    def __init__(self, app: ASGIApp, *, allowed: Sequence[str]) -> None:
        self.app = app
        self.allowed = tuple(allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("host", "")
        name = host_name(given)
        trusted = bool(name) and _matches(name, self.allowed)
        if trusted or scope["path"] in PROBE_PATHS:
            # A probe is served whatever its Host, but says more than ok / not ok only to a trusted name: in the
            # open local mode anyone counts as the operator, a rebinding page included.
            scope.setdefault("state", {})[HOST_TRUSTED] = trusted
            await self.app(scope, receive, send)
            return
        log.warning("request refused: host name not allowed", host=given[:200], path=scope["path"])
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        detail = (
            f"this server does not answer to the host name '{name[:200]}': "
            "add it to WEB_ALLOWED_HOSTS if it is one of this server's names"
        )
        await problem_response(problem(400, detail))(scope, receive, send)

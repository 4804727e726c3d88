"""Whether the web app would answer strangers unauthenticated: a listener beyond loopback with no ``ADMIN_TOKEN``.

Without the token, the admin dashboard, ``/metrics`` and the API are open (convenient on a laptop); on an
interface other machines reach, that is anyone's. ``serve`` warns and ``doctor`` fails on it.
"""

from __future__ import annotations

import ipaddress

from core.settings import Settings

_LOOPBACK_NAMES = {"localhost"}


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any loopback address (127.0.0.0/8, ``::1``, bracketed or not)."""
    name = host.strip().strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name or an interface we cannot vouch for


def open_listener_problem(settings: Settings, host: str | None = None) -> str | None:
    """The one-line warning when ``host`` (default ``WEB_HOST``) is reachable from other machines and no
    ``ADMIN_TOKEN`` is set; None when the listener is loopback-only or protected."""
    bind = host or settings.web.host
    if settings.admin.token is not None or is_loopback(bind):
        return None
    return (
        f"listening on {bind} without ADMIN_TOKEN: /admin, /metrics and the API answer anyone who can reach "
        "this port; set ADMIN_TOKEN (`openssl rand -hex 32`) or listen on 127.0.0.1 (WEB_HOST)"
    )

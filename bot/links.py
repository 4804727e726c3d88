"""Link checks both chat renderers share: which targets may become live links, and which link texts would
disguise where a link goes (a document or the model writing ``[https://sso.example.com](https://evil.example)``)."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

# Host names in a link's text: after a scheme ("https://10.0.0.1:8443"), or any dotted name ending in letters
# ("sso.example.com", "www.exаmple.com" with a Cyrillic "а"). File names such as "README.md" count too: such a
# link then shows its address, which costs little.
_SCHEMED_HOST = re.compile(r"[a-z][a-z0-9+.-]*://([^/\s?#\\]+)", re.IGNORECASE)
_DOTTED_NAME = re.compile(r"(?<![\w.@-])((?:[\w-]+\.)+[^\W\d_]{2,})(?![\w-])")
_UNSAFE_IN_URL = re.compile(r"[\x00-\x20\x7f\s]")


def plain_url(url: str) -> bool:
    """An http(s) address with a host and no spaces or control characters: the only kind we make a link of."""
    if not url.lower().startswith(("http://", "https://")) or _UNSAFE_IN_URL.search(url):
        return False
    try:
        return bool(urlsplit(url).hostname)
    except ValueError:  # a malformed port or IPv6 literal
        return False


def _host(address: str) -> str:
    host = address.rsplit("@", 1)[-1].split(":", 1)[0].lower().rstrip(".")
    return host.removeprefix("www.")


def disguises(text: str, url: str) -> bool:
    """True when the link text names a host other than the one the link goes to."""
    try:
        target = _host(urlsplit(url).hostname or "")
    except ValueError:
        return True
    named = _SCHEMED_HOST.findall(text) + _DOTTED_NAME.findall(text)
    return any(_host(host) != target for host in named)

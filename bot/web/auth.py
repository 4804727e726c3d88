"""Bearer-token protection for the API and admin pages: ``ADMIN_TOKEN`` when set; open when it is not
(the local, embedded mode — production refuses to start without a token)."""

from __future__ import annotations

import base64
import binascii
import secrets

from fastapi import HTTPException, Request, status

from bot.web.dependencies import get_settings


def _given_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or the password of a Basic one (what a browser
    sends after its login prompt: any user name, the token as password)."""
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        return credentials
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials, validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return None
    return None


def _check(request: Request, challenge: str) -> None:
    token = get_settings(request).admin.token
    if token is None:
        return
    given = _given_token(request)
    if given is None or not secrets.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="send the ADMIN_TOKEN as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": challenge},
        )


def require_admin_token(request: Request) -> None:
    _check(request, "Bearer")


def require_admin_login(request: Request) -> None:
    """For pages opened in a browser: a 401 makes it ask for a login (any user name, ADMIN_TOKEN as password)."""
    _check(request, 'Basic realm="Threadwise admin", charset="UTF-8"')

"""Bearer-token protection for the API and admin pages: ``ADMIN_TOKEN`` when set; open when it is not
(the local, embedded mode — production refuses to start without a token)."""

from __future__ import annotations

import secrets

from fastapi import HTTPException, Request, status

from bot.web.dependencies import get_settings


def require_admin_token(request: Request) -> None:
    token = get_settings(request).admin.token
    if token is None:
        return
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="send the ADMIN_TOKEN as 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )

"""Who a request is: the operator (``ADMIN_TOKEN``; every tenant) or one tenant's API key (``bot.access``).

Without ``ADMIN_TOKEN`` (the local, embedded mode; production refuses to start without one) a request that
presents no key is the operator; one that presents a key is still held to that key's tenant. Which routes take
whom:

- ``require_principal``: the API (``/api/v1/ask``, ``/api/v1/feedback``): the operator or any tenant key.
- ``require_admin_login`` (browser login, the key or token as password):
  the operator or a key of scope ``admin``, held to its tenant (the dashboard).
- ``require_operator`` and ``require_operator_login``: the operator only (``/metrics``, the API docs).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from bot.access.keys import ApiKeyStore, looks_like_key
from bot.access.principal import OPERATOR, Principal, TenantForbiddenError
from bot.web.dependencies import sessionmaker_of, settings_of

BEARER = "Bearer"
BASIC = 'Basic realm="Threadwise admin", charset="UTF-8"'


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


def _unauthorized(detail: str, challenge: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": challenge})


async def _authenticate(request: Request, challenge: str) -> Principal:
    token = settings_of(request).admin.token
    given = _given_token(request)
    if (
        token is not None
        and given is not None
        and secrets.compare_digest(given.encode(), token.get_secret_value().encode())
    ):
        return OPERATOR
    if given is not None and looks_like_key(given):
        info = await ApiKeyStore(sessionmaker_of(request)).authenticate(given)
        if info is None:
            raise _unauthorized("this API key is unknown or was revoked", challenge)
        return info.principal()
    if token is None:
        return OPERATOR  # open local mode
    raise _unauthorized("send the ADMIN_TOKEN or an API key as 'Authorization: Bearer <token>'", challenge)


def _admin(principal: Principal) -> Principal:
    if principal.scope != "admin":
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this API key's scope is 'ask'; this needs 'admin'")
    return principal


def _operator(principal: Principal) -> Principal:
    if not principal.is_operator:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="only the operator's ADMIN_TOKEN opens this")
    return principal


async def require_principal(request: Request) -> Principal:
    return await _authenticate(request, BEARER)


async def require_admin_login(request: Request) -> Principal:
    """For pages opened in a browser: a 401 makes it ask for a login (any user name, the token or key as
    password)."""
    return _admin(await _authenticate(request, BASIC))


async def require_operator(request: Request) -> Principal:
    return _operator(await _authenticate(request, BEARER))


async def require_operator_login(request: Request) -> Principal:
    return _operator(await _authenticate(request, BASIC))


PrincipalDep = Annotated[Principal, Depends(require_principal)]
"""The operator or any tenant key (the API)."""
AdminLoginDep = Annotated[Principal, Depends(require_admin_login)]
"""The operator or an admin key, logged in from a browser (the dashboard)."""


def tenant_of(principal: Principal, asked: str | None) -> str:
    """The tenant a request works in (see ``Principal.tenant_for``); another tenant than a key's is a 403."""
    with _forbidden_as_403():
        return principal.tenant_for(asked)


def tenant_filter(principal: Principal, asked: str | None) -> str | None:
    """For reports: None (every tenant) only for the operator; a key sees its own tenant, asking for another
    is a 403."""
    with _forbidden_as_403():
        return principal.filter_tenant(asked)


@contextmanager
def _forbidden_as_403() -> Iterator[None]:
    try:
        yield
    except TenantForbiddenError as error:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(error)) from error

"""Per-tenant API keys: made, listed, revoked, and checked on each request that presents one.

A key is ``tw_`` and 43 random letters and digits (256 bits). Its first 8 characters after ``tw_`` are its
prefix: stored in clear to find the row and to name the key; the whole key is stored only as its SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.access.models import ApiKey
from bot.access.principal import SCOPES, Principal, Scope
from core.db import session_scope

KEY_START = "tw_"
PREFIX_CHARS = 8
SECRET_CHARS = 43
"""43 characters of 62: 256 bits, beyond guessing, so one fast hash suffices."""
_ALPHABET = string.ascii_letters + string.digits
TOUCH_EVERY = timedelta(minutes=1)
"""``last_used_at`` is written at most this often per key."""


@dataclass(frozen=True, slots=True)
class KeyInfo:
    id: int
    prefix: str
    tenant: str
    scope: Scope
    name: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def shown_prefix(self) -> str:
        return f"{KEY_START}{self.prefix}"

    def principal(self) -> Principal:
        return Principal(tenant=self.tenant, scope=self.scope, key_prefix=self.prefix)


@dataclass(frozen=True, slots=True)
class CreatedKey:
    key: str
    """The key itself: shown once, never stored."""
    info: KeyInfo


def new_key() -> str:
    return KEY_START + "".join(secrets.choice(_ALPHABET) for _ in range(SECRET_CHARS))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(value: str) -> bool:
    return value.startswith(KEY_START) and len(value) == len(KEY_START) + SECRET_CHARS


def _prefix_of(value: str) -> str:
    """``tw_AbCd1234…``, ``tw_AbCd1234`` or ``AbCd1234`` → ``AbCd1234``."""
    value = value.strip().removeprefix(KEY_START)
    return value[:PREFIX_CHARS]


def _info(row: ApiKey) -> KeyInfo:
    scope: Scope = "admin" if row.scope == "admin" else "ask"
    return KeyInfo(row.id, row.prefix, row.tenant, scope, row.name, row.created_at, row.last_used_at, row.revoked_at)


class ApiKeyStore:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def create(self, *, tenant: str, scope: Scope = "ask", name: str | None = None) -> CreatedKey:
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {', '.join(SCOPES)}")
        async with session_scope(self.sessionmaker) as session:
            while True:  # a prefix taken already (about 1 in 10^14 per key) draws a new key
                key = new_key()
                row = await session.scalar(
                    insert(ApiKey)
                    .values(prefix=_prefix_of(key), secret_hash=hash_key(key), tenant=tenant, scope=scope, name=name)
                    .on_conflict_do_nothing(index_elements=[ApiKey.prefix])
                    .returning(ApiKey)
                )
                if row is not None:
                    return CreatedKey(key, _info(row))

    async def list(self, *, tenant: str | None = None) -> list[KeyInfo]:
        query = select(ApiKey).order_by(ApiKey.tenant, ApiKey.created_at, ApiKey.id)
        if tenant is not None:
            query = query.where(ApiKey.tenant == tenant)
        async with session_scope(self.sessionmaker) as session:
            return [_info(row) for row in await session.scalars(query)]

    async def revoke(self, which: str) -> KeyInfo | None:
        """Revoke the key named by its prefix (with or without ``tw_``, or the whole key) or its id; None when
        there is no such key. Revoking twice keeps the first time."""
        async with session_scope(self.sessionmaker) as session:
            row = await session.scalar(select(ApiKey).where(ApiKey.prefix == _prefix_of(which)))
            if row is None and which.strip().isascii() and which.strip().isdigit():  # "²" is a digit to str
                row = await session.get(ApiKey, int(which))
            if row is None:
                return None
            if row.revoked_at is None:
                row.revoked_at = datetime.now(UTC)
                await session.flush()
            return _info(row)

    async def authenticate(self, key: str) -> KeyInfo | None:
        """The key's details when it is a live key, else None. Notes the use (at most once a minute)."""
        if not looks_like_key(key):
            return None
        async with session_scope(self.sessionmaker) as session:
            row = await session.scalar(select(ApiKey).where(ApiKey.prefix == _prefix_of(key)))
            if row is None or not hmac.compare_digest(row.secret_hash, hash_key(key)) or row.revoked_at is not None:
                return None
            info = _info(row)
            if row.last_used_at is None or row.last_used_at < datetime.now(UTC) - TOUCH_EVERY:
                # Guarded again in SQL: replicas that race write once.
                await session.execute(
                    update(ApiKey)
                    .where(
                        ApiKey.id == row.id,
                        or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < func.now() - TOUCH_EVERY),
                    )
                    .values(last_used_at=func.now())
                    .execution_options(synchronize_session=False)
                )
        return info

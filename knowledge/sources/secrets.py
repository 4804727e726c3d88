"""A source's token: named by the environment variable that holds it, or sealed at rest with the deployment's key.

A source's settings are stored in the database and shown by ``threadwise sources show``; a token must never be
among them in clear. Two ways to give one:

- ``{"env": "GITHUB_TOKEN"}``: read from the environment of the process that syncs, at each run;
- ``{"sealed": "gAAAA…"}``: encrypted (Fernet: AES-128-CBC with an HMAC) with ``KNOWLEDGE_SOURCES_SECRET_KEY``, a
  key made by ``threadwise sources key``. Without the key, or with another one, the run fails saying so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from knowledge.sources.protocol import ConnectorError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
KEY_SETTING = "KNOWLEDGE_SOURCES_SECRET_KEY"


class TokenRef(BaseModel):
    """Where a source's token comes from; exactly one of ``env`` and ``sealed``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    env: str | None = Field(default=None, pattern=_ENV_NAME.pattern)
    sealed: str | None = Field(default=None, max_length=4096)

    @model_validator(mode="after")
    def _exactly_one(self) -> TokenRef:
        if (self.env is None) == (self.sealed is None):
            raise ValueError("give the token as {'env': NAME} or {'sealed': …}, one of the two")
        return self

    def shown(self) -> str:
        """How listings show it: never the token."""
        return f"${self.env}" if self.env is not None else "sealed"


def shown_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A source's settings as listings show them: each token replaced by where it comes from."""
    shown: dict[str, Any] = {}
    for name, value in settings.items():
        if isinstance(value, Mapping) and set(value) in ({"env"}, {"sealed"}):
            try:
                value = TokenRef.model_validate(dict(value)).shown()
            except ValueError:
                value = "(invalid token setting)"
        shown[name] = value
    return shown


def new_key() -> str:
    """A fresh key for ``KNOWLEDGE_SOURCES_SECRET_KEY``."""
    return Fernet.generate_key().decode()


def seal(token: str, key: SecretStr | None) -> TokenRef:
    """``token`` encrypted with ``key``, ready to store in a source's settings."""
    return TokenRef(sealed=_fernet(key).encrypt(token.encode()).decode())


def reveal(ref: TokenRef, key: SecretStr | None) -> str:
    """The token, for one run; a ``ConnectorError`` saying what is missing otherwise."""
    if ref.env is not None:
        value = os.environ.get(ref.env, "").strip()
        if not value:
            raise ConnectorError(f"the environment variable {ref.env} that holds this source's token is not set")
        return value
    try:
        return _fernet(key).decrypt((ref.sealed or "").encode()).decode()
    except InvalidToken:
        raise ConnectorError(
            f"this source's token was sealed with another key than {KEY_SETTING}; add the token again"
        ) from None


def _fernet(key: SecretStr | None) -> Fernet:
    if key is None:
        raise ConnectorError(f"set {KEY_SETTING} (make one with `threadwise sources key`) to seal or read tokens")
    try:
        return Fernet(key.get_secret_value().encode())
    except ValueError:
        raise ConnectorError(f"{KEY_SETTING} is not a key made by `threadwise sources key`") from None

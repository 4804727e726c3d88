"""Who a request acts as, and which tenant that lets it touch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Scope = Literal["ask", "admin"]
SCOPES: tuple[Scope, ...] = ("ask", "admin")
DEFAULT_TENANT = "local"


class TenantForbiddenError(PermissionError):
    """A tenant key asked for another tenant."""


@dataclass(frozen=True, slots=True)
class Principal:
    """The operator (``ADMIN_TOKEN``, or anyone in the open local mode: every tenant) or one tenant's key."""

    tenant: str | None = None
    """The key's tenant; None for the operator."""
    scope: Scope = "admin"
    key_prefix: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.tenant is None

    def tenant_for(self, asked: str | None, *, default: str = DEFAULT_TENANT) -> str:
        """The tenant a request works in: what it asked for (the operator: ``default`` when nothing), a key's
        own tenant (asking for another one is refused)."""
        if self.tenant is None:
            return asked or default
        if asked is not None and asked != self.tenant:
            raise TenantForbiddenError(f"this API key belongs to tenant {self.tenant!r}, not {asked!r}")
        return self.tenant

    def filter_tenant(self, asked: str | None) -> str | None:
        """For reports: the operator may see every tenant (None) or one; a key only its own."""
        return asked if self.tenant is None else self.tenant_for(asked)

    def user_id(self, user: str) -> str:
        """A vote's user: a key's users live in a namespace of that key, so no key can vote as (or take back the
        votes of) the operator's users or another key's."""
        return user if self.key_prefix is None else f"key:{self.key_prefix}:{user}"


OPERATOR = Principal()

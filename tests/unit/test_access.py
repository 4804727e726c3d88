"""Pure rules of per-tenant API keys: what tenant a principal works in, vote user names, key shapes."""

from __future__ import annotations

import hashlib

import pytest

from bot.access.keys import KEY_START, PREFIX_CHARS, SECRET_CHARS, hash_key, looks_like_key, new_key
from bot.access.principal import OPERATOR, Principal, TenantForbiddenError

KEY = Principal(tenant="slack:T1", scope="ask", key_prefix="AbCd1234")


def test_the_operator_works_in_any_tenant_and_local_by_default() -> None:
    assert OPERATOR.tenant_for(None) == "local" and OPERATOR.tenant_for("slack:T9") == "slack:T9"
    assert OPERATOR.filter_tenant(None) is None and OPERATOR.user_id("alice") == "alice"


def test_a_key_works_in_its_own_tenant_only() -> None:
    assert KEY.tenant_for(None) == KEY.tenant_for("slack:T1") == KEY.filter_tenant(None) == "slack:T1"
    with pytest.raises(TenantForbiddenError, match="slack:T1"):
        KEY.tenant_for("slack:T2")
    with pytest.raises(TenantForbiddenError):
        KEY.filter_tenant("slack:T2")


def test_a_keys_voters_live_in_its_own_namespace() -> None:
    assert KEY.user_id("alice") == "key:AbCd1234:alice"


def test_keys_are_long_random_and_hashed() -> None:
    first, second = new_key(), new_key()
    assert first != second and looks_like_key(first)
    assert len(first) == len(KEY_START) + SECRET_CHARS and first[len(KEY_START) :].isalnum()
    assert hash_key(first) == hashlib.sha256(first.encode()).hexdigest()
    assert not looks_like_key(first[: len(KEY_START) + PREFIX_CHARS]) and not looks_like_key("admin-token")

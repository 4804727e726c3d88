"""A source's token never sits in clear in its settings: named by an environment variable, or sealed with the
deployment's key, and shown in listings only as where it comes from."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from knowledge.sources.protocol import ConnectorError
from knowledge.sources.secrets import TokenRef, new_key, reveal, seal, shown_settings

TOKEN = "ghp_exampleexampleexample0123456789"


def test_a_sealed_token_opens_only_with_its_key() -> None:
    key = SecretStr(new_key())
    ref = seal(TOKEN, key)
    assert ref.sealed is not None and TOKEN not in ref.sealed
    assert reveal(ref, key) == TOKEN
    with pytest.raises(ConnectorError, match="sealed with another key"):
        reveal(ref, SecretStr(new_key()))
    with pytest.raises(ConnectorError, match="KNOWLEDGE_SOURCES_SECRET_KEY"):
        reveal(ref, None)
    with pytest.raises(ConnectorError, match="not a key"):
        seal(TOKEN, SecretStr("too-short"))


def test_a_named_token_is_read_at_each_run(monkeypatch: pytest.MonkeyPatch) -> None:
    ref = TokenRef(env="THREADWISE_TEST_TOKEN")
    monkeypatch.delenv("THREADWISE_TEST_TOKEN", raising=False)
    with pytest.raises(ConnectorError, match=r"THREADWISE_TEST_TOKEN .* is not set"):
        reveal(ref, None)
    monkeypatch.setenv("THREADWISE_TEST_TOKEN", TOKEN)
    assert reveal(ref, None) == TOKEN


def test_exactly_one_way_and_a_plausible_variable_name() -> None:
    for bad in ({}, {"env": "A", "sealed": "x"}, {"env": "NOT A NAME"}, {"token": TOKEN}):
        with pytest.raises(ValidationError):
            TokenRef.model_validate(bad)


def test_listings_show_where_a_token_comes_from_never_the_token() -> None:
    sealed = seal(TOKEN, SecretStr(new_key())).model_dump(exclude_none=True)
    shown = shown_settings({"repository": "acme/docs", "token": sealed, "other": {"env": "GH_TOKEN"}})
    assert shown == {"repository": "acme/docs", "token": "sealed", "other": "$GH_TOKEN"}

"""A process running the worker keeps open as many database connections as its answers hold at once."""

from __future__ import annotations

import pytest

from bot.web.app import CONNECTIONS_PER_JOB, _database_for
from core.settings import load_settings


@pytest.fixture
def slack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-0000-1111-secretvalue")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "abcdef0123456789")
    monkeypatch.delenv("DATABASE_POOL_SIZE", raising=False)


@pytest.mark.usefixtures("slack")
def test_a_worker_keeps_two_connections_per_answer_and_two_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_CONCURRENCY", "12")
    assert CONNECTIONS_PER_JOB == 2
    assert _database_for(load_settings(), worker=True).pool_size == 26


@pytest.mark.usefixtures("slack")
def test_a_larger_pool_asked_for_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_CONCURRENCY", "4")
    monkeypatch.setenv("DATABASE_POOL_SIZE", "40")
    assert _database_for(load_settings(), worker=True).pool_size == 40


@pytest.mark.usefixtures("slack")
def test_listeners_alone_keep_the_pool_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUEUE_CONCURRENCY", "12")
    assert _database_for(load_settings(), worker=False).pool_size == 5

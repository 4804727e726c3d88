"""Session-wide test setup: the network guard and a clean, repeatable environment for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.settings import DatabaseSettings, Settings
from tests import network_guard

REPO_ROOT = Path(__file__).resolve().parent.parent
# Read before any test cleans the environment: CI points the suite at a system PostgreSQL this way.
TEST_DATABASE_URL = os.environ.get("DATABASE_URL") or None
# And at a pooler in transaction mode (PgBouncer) with PostgreSQL reached directly for LISTEN; every test that
# loads settings from the environment, or asks for ``test_database_settings()``, then goes that way.
TEST_POOL_VARIABLES = {
    name: value
    for name in ("DATABASE_POOL_MODE", "DATABASE_LISTEN_URL")
    if TEST_DATABASE_URL and (value := os.environ.get(name))
}


def database_settings_for_tests(**overrides: object) -> DatabaseSettings:
    """The database settings the suite runs with (the pool mode CI chose), with ``overrides``."""
    values: dict[str, object] = {"pool_mode": TEST_POOL_VARIABLES.get("DATABASE_POOL_MODE", "session")}
    if listen := TEST_POOL_VARIABLES.get("DATABASE_LISTEN_URL"):
        values |= {"listen_url": listen, "url": TEST_DATABASE_URL}
    return DatabaseSettings.model_validate(values | overrides)


POOLED_PER_TRANSACTION = database_settings_for_tests().pooled_per_transaction


def pytest_configure(config: pytest.Config) -> None:
    network_guard.install()


def pytest_unconfigure(config: pytest.Config) -> None:
    network_guard.uninstall()


def _threadwise_variable(name: str) -> bool:
    groups = {group.upper() for group in Settings.model_fields}
    return name in groups or name.split("_", 1)[0] in groups


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No developer's variables or ``.env`` leak into a test: each starts from defaults in an empty folder."""
    for name in list(os.environ):
        if _threadwise_variable(name):
            monkeypatch.delenv(name)
    # The name the in-process test clients address the app by (base_url="http://threadwise.test").
    monkeypatch.setenv("WEB_ALLOWED_HOSTS", "threadwise.test")
    for name, value in TEST_POOL_VARIABLES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def without_pooler(monkeypatch: pytest.MonkeyPatch) -> None:
    """For a test of the embedded server, or of no database at all: the pooler CI may run the suite through is not
    in front of those."""
    for name in TEST_POOL_VARIABLES:
        monkeypatch.delenv(name, raising=False)

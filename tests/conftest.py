"""Session-wide test setup: the network guard and a clean, repeatable environment for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.settings import Settings
from tests import network_guard

REPO_ROOT = Path(__file__).resolve().parent.parent
# Read before any test cleans the environment: CI points the suite at a system PostgreSQL this way.
TEST_DATABASE_URL = os.environ.get("DATABASE_URL") or None


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
    monkeypatch.chdir(tmp_path)
    return tmp_path

"""A listener beyond loopback without ADMIN_TOKEN: `serve` warns, `doctor` fails, both naming what to set."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

import pytest
import typer
from typer.testing import CliRunner

import bot.doctor
from bot.cli import app as cli
from bot.doctor import access_check, host_names_check
from bot.open_access import is_loopback, open_listener_problem
from core.health import Check
from core.settings import Settings, load_settings

STRONG_TOKEN = secrets.token_hex(32)


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts(host: str) -> None:
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.0.0.5", "threadwise.example.com", "192.168.1.20"])
def test_hosts_other_machines_may_reach(host: str) -> None:
    assert not is_loopback(host)


def test_an_open_listener_is_a_problem_naming_what_to_set() -> None:
    problem = open_listener_problem(load_settings(web={"host": "0.0.0.0"}))
    assert problem is not None
    assert problem.startswith("listening on 0.0.0.0 without ADMIN_TOKEN")
    assert "set ADMIN_TOKEN" in problem and "WEB_HOST" in problem


@pytest.mark.parametrize(
    "settings",
    [
        {"web": {"host": "127.0.0.1"}},
        {"web": {"host": "0.0.0.0"}, "admin": {"token": STRONG_TOKEN}},
    ],
)
def test_loopback_or_a_token_is_fine(settings: dict[str, dict[str, str]]) -> None:
    assert open_listener_problem(load_settings(**settings)) is None


def test_the_host_option_wins_over_web_host() -> None:
    assert open_listener_problem(load_settings(), "0.0.0.0") is not None
    assert open_listener_problem(load_settings(web={"host": "0.0.0.0"}), "127.0.0.1") is None


def test_doctor_access_check_fails_on_an_open_listener() -> None:
    failing = access_check(load_settings(web={"host": "0.0.0.0"}))
    assert not failing.ok and "ADMIN_TOKEN" in failing.detail
    assert access_check(load_settings()).ok
    assert access_check(load_settings(web={"host": "0.0.0.0"}, admin={"token": STRONG_TOKEN})).ok


@pytest.fixture
def no_database(monkeypatch: pytest.MonkeyPatch) -> None:
    """Doctor's database checks need a server; this file is about configuration only."""

    @asynccontextmanager
    async def nothing_to_check(settings: Settings) -> AsyncIterator[tuple[list[Check], None]]:
        yield [], None

    monkeypatch.setattr(bot.doctor, "_database", nothing_to_check)


@pytest.mark.usefixtures("no_database")
def test_doctor_reports_the_open_listener_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_HOST", "0.0.0.0")
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 1, result.output
    assert "✗ access      listening on 0.0.0.0 without ADMIN_TOKEN" in result.stdout
    assert "1 check(s) failed." in result.stdout


@pytest.mark.usefixtures("no_database")
def test_doctor_passes_with_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_HOST", "0.0.0.0")
    monkeypatch.setenv("ADMIN_TOKEN", STRONG_TOKEN)
    result = CliRunner().invoke(cli, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "✓ access      ADMIN_TOKEN guards" in result.stdout
    assert STRONG_TOKEN not in result.output


def _serve_until_the_database(monkeypatch: pytest.MonkeyPatch, *args: str) -> str:
    """Run `threadwise serve` up to where it needs the database, and return what it printed to stderr."""

    def stop(settings: Settings) -> NoReturn:
        raise typer.Exit(3)

    monkeypatch.setattr("bot.cli.serve.database_url", stop)
    result = CliRunner().invoke(cli, ["serve", *args])
    assert result.exit_code == 3, result.output
    return result.stderr


def test_serve_warns_when_listening_beyond_loopback_without_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    stderr = _serve_until_the_database(monkeypatch, "--host", "0.0.0.0")
    assert "WARNING: listening on 0.0.0.0 without ADMIN_TOKEN" in stderr
    assert "set ADMIN_TOKEN" in stderr
    monkeypatch.setenv("WEB_HOST", "::")
    assert "WARNING: listening on :: without ADMIN_TOKEN" in _serve_until_the_database(monkeypatch)


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--host", "127.0.0.1"), {}), (("--host", "0.0.0.0"), {"ADMIN_TOKEN": STRONG_TOKEN}), ((), {})],
)
def test_serve_is_quiet_on_loopback_or_with_a_token(
    monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert "WARNING" not in _serve_until_the_database(monkeypatch, *args)


def test_doctor_host_names_check_fails_for_a_production_server_that_answers_loopback_names_only() -> None:
    production = {"environment": "production", "admin": {"token": STRONG_TOKEN}}
    failing = host_names_check(load_settings(**production, web={"host": "0.0.0.0", "allowed_hosts": []}))
    assert not failing.ok and "WEB_ALLOWED_HOSTS" in failing.detail
    named = load_settings(**production, web={"host": "0.0.0.0", "allowed_hosts": ["bot.example.com"]})
    assert host_names_check(named).ok and "bot.example.com" in host_names_check(named).detail
    assert host_names_check(load_settings(web={"host": "0.0.0.0", "allowed_hosts": []})).ok  # development

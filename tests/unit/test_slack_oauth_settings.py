"""Settings for many Slack workspaces (OAuth installs): what turns them on, and the clear refusals when they are
half set or mixed with the single workspace's ``SLACK_BOT_TOKEN``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from core.settings import SLACK_BOT_SCOPES, ConfigurationError, load_settings

KEY = Fernet.generate_key().decode()
OAUTH = {
    "SLACK_CLIENT_ID": "1111111111.2222222222",
    "SLACK_CLIENT_SECRET": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "SLACK_SIGNING_SECRET": "abcdef0123456789",
    "SLACK_TOKENS_SECRET_KEY": KEY,
}


def problems_for(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    return caught.value.problems


def test_client_id_and_secret_turn_on_oauth_installs(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in OAUTH.items():
        monkeypatch.setenv(name, value)
    slack = load_settings().slack
    assert slack.oauth and slack.enabled and slack.bot_token is None
    assert slack.scopes == list(SLACK_BOT_SCOPES)
    assert KEY in load_settings().secret_values() and OAUTH["SLACK_CLIENT_SECRET"] in load_settings().secret_values()


def test_a_single_bot_token_stays_the_simple_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-0000-1111-secretvalue")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "abcdef0123456789")
    slack = load_settings().slack
    assert slack.enabled and not slack.oauth


def test_scopes_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (OAUTH | {"SLACK_SCOPES": "chat:write, app_mentions:read"}).items():
        monkeypatch.setenv(name, value)
    assert load_settings().slack.scopes == ["chat:write", "app_mentions:read"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SLACK_CLIENT_SECRET": ""}, "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together"),
        ({"SLACK_BOT_TOKEN": "xoxb-0000-1111-secretvalue"}, "choose one"),
        ({"SLACK_TOKENS_SECRET_KEY": ""}, "SLACK_TOKENS_SECRET_KEY is not"),
        ({"SLACK_SIGNING_SECRET": None}, "needs HTTP events"),
        ({"SLACK_APP_TOKEN": "xapp-1-A0-123-abcdef"}, "needs HTTP events"),
        ({"SLACK_SCOPES": " , "}, "SLACK_SCOPES is empty"),
        ({"SLACK_TOKENS_SECRET_KEY": "not-a-key"}, "SLACK_TOKENS_SECRET_KEY: is not a key"),
    ],
    ids=["secret-missing", "bot-token-too", "no-key", "no-signing-secret", "socket-mode", "no-scopes", "bad-key"],
)
def test_incomplete_or_mixed_oauth_settings_are_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str | None], expected: str
) -> None:
    # None: not set at all; "": set blank, which counts as unset for these settings.
    problems = problems_for(monkeypatch, **{name: value for name, value in (OAUTH | env).items() if value is not None})
    assert len(problems) == 1 and expected in problems[0], problems
    assert not any(secret in problems[0] for secret in (KEY, OAUTH["SLACK_CLIENT_SECRET"], "not-a-key"))


def test_the_default_scopes_are_the_manifests_bot_scopes() -> None:
    manifest = (Path(__file__).resolve().parents[2] / "docs" / "slack-manifest.yml").read_text()
    bot_scopes = manifest.split("\n    bot:\n", 1)[1].split("\nsettings:", 1)[0]
    assert re.findall(r"^\s+- ([a-z_:.]+)", bot_scopes, flags=re.MULTILINE) == list(SLACK_BOT_SCOPES)

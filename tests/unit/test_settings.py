from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy.engine import URL, make_url

from core.settings import ConfigurationError, load_settings


def problems_for(monkeypatch: pytest.MonkeyPatch, **env: str) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    return caught.value.problems


def test_no_configuration_at_all_is_valid_and_embedded() -> None:
    settings = load_settings()
    assert settings.database.url is None
    assert settings.database.async_url() is None
    assert settings.llm.model is None
    assert not settings.slack.enabled
    assert not settings.discord.enabled


def test_slack_bot_token_without_signing_secret_or_app_token_names_both(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = problems_for(monkeypatch, SLACK_BOT_TOKEN="xoxb-0000-1111-secretvalue")
    assert len(problems) == 1
    assert "SLACK_SIGNING_SECRET" in problems[0]
    assert "SLACK_APP_TOKEN" in problems[0]
    assert "secretvalue" not in problems[0]


@pytest.mark.parametrize(
    "extra",
    [{"SLACK_SIGNING_SECRET": "abcdef0123456789"}, {"SLACK_APP_TOKEN": "xapp-1-A0-123-abcdef"}],
)
def test_slack_with_either_transport_is_valid(monkeypatch: pytest.MonkeyPatch, extra: dict[str, str]) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-0000-1111-secretvalue")
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    assert load_settings().slack.enabled


def test_slack_app_token_of_the_wrong_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = problems_for(monkeypatch, SLACK_BOT_TOKEN="xoxb-1", SLACK_APP_TOKEN="xoxb-not-an-app-token")
    assert problems == ["SLACK_APP_TOKEN must be an app-level token starting with 'xapp-'"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url at all", "DATABASE_URL: is not a database URL"),
        ("mysql://u:p@db:3306/threadwise", "DATABASE_URL: uses scheme 'mysql'"),
        ("postgresql://u:p@db:5432", "DATABASE_URL: names no database"),
    ],
)
def test_malformed_database_url(monkeypatch: pytest.MonkeyPatch, url: str, expected: str) -> None:
    problems = problems_for(monkeypatch, DATABASE_URL=url)
    assert len(problems) == 1
    assert problems[0].startswith(expected)
    assert ":p@" not in problems[0]


@pytest.mark.parametrize("scheme", ["postgres", "postgresql", "postgresql+asyncpg"])
def test_database_url_schemes_all_use_asyncpg(monkeypatch: pytest.MonkeyPatch, scheme: str) -> None:
    monkeypatch.setenv("DATABASE_URL", f"{scheme}://bot:s3cret-pass@db.internal:5432/threadwise")
    url = load_settings().database.async_url()
    assert url is not None
    assert url.drivername == "postgresql+asyncpg"
    assert url.password == "s3cret-pass"


def test_every_problem_is_reported_once_each(monkeypatch: pytest.MonkeyPatch) -> None:
    problems = problems_for(
        monkeypatch,
        DATABASE_POOL_SIZE="many",
        LLM_MODEL="gpt-4o-mini",
        WEB_PORT="70000",
        SLACK_BOT_TOKEN="xoxb-1",
    )
    assert len(problems) == 4
    assert any(p.startswith("DATABASE_POOL_SIZE:") for p in problems)
    assert any(p.startswith("LLM_MODEL:") and "openai:gpt-4o-mini" in p for p in problems)
    assert any(p.startswith("WEB_PORT:") for p in problems)
    assert any("SLACK_SIGNING_SECRET" in p for p in problems)


STRONG_TOKENS = [
    secrets.token_hex(32),  # `openssl rand -hex 32`
    secrets.token_urlsafe(32),
    "9f2c1e7a4b3d8e6f0a1b2c3d",
    "admin-token-0123456789abcdef",  # the integration tests' token
]


@pytest.mark.parametrize("blank", ["", "   ", " " * 16, "\t\n"])
@pytest.mark.parametrize("environment", ["development", "test"])
def test_a_blank_admin_token_is_unset_never_a_token_an_empty_credential_matches(
    monkeypatch: pytest.MonkeyPatch, blank: str, environment: str
) -> None:
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("ADMIN_TOKEN", blank)
    assert load_settings().admin.token is None


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("short-Tok3n!", "is shorter than 16 characters"),
        ("changeme", "is shorter than 16 characters"),
        ("a" * 16, "is too predictable"),
        ("ab" * 8, "is too predictable"),
        ("1234567890123456", "is too predictable"),
        ("abcd" * 8, "is too predictable"),
        ("f00dcafe" * 4, "is too predictable"),
        ("9f2c1e7a 4b3d8e6f0a1b2c3d", "contains whitespace"),
    ],
)
@pytest.mark.parametrize("environment", ["development", "test", "production"])
def test_a_weak_admin_token_is_refused_in_every_environment_naming_the_rule(
    monkeypatch: pytest.MonkeyPatch, token: str, why: str, environment: str
) -> None:
    problems = problems_for(monkeypatch, ENVIRONMENT=environment, ADMIN_TOKEN=token)
    assert len(problems) == 1
    assert problems[0].startswith(f"ADMIN_TOKEN: {why}; it needs at least 16 characters, no whitespace")
    assert "64 bits" in problems[0] and "openssl rand -hex 32" in problems[0]
    assert token.strip() not in problems[0]


@pytest.mark.parametrize("token", STRONG_TOKENS)
@pytest.mark.parametrize("environment", ["development", "production"])
def test_a_strong_admin_token_is_accepted(monkeypatch: pytest.MonkeyPatch, token: str, environment: str) -> None:
    monkeypatch.setenv("ENVIRONMENT", environment)
    monkeypatch.setenv("ADMIN_TOKEN", token)
    settings = load_settings()
    assert settings.admin.token is not None and settings.admin.token.get_secret_value() == token
    assert token not in repr(settings)


@pytest.mark.parametrize("missing", [None, "", " " * 16])
def test_production_refuses_to_run_without_an_admin_token(monkeypatch: pytest.MonkeyPatch, missing: str | None) -> None:
    env = {"ENVIRONMENT": "production"} | ({} if missing is None else {"ADMIN_TOKEN": missing})
    problems = problems_for(monkeypatch, **env)
    assert len(problems) == 1
    assert problems[0].startswith("ENVIRONMENT=production needs ADMIN_TOKEN set")
    assert "openssl rand -hex 32" in problems[0]


def test_dotenv_file_is_read_and_environment_wins(monkeypatch: pytest.MonkeyPatch, clean_environment: Path) -> None:
    (clean_environment / ".env").write_text("LOG_FORMAT=json\nWEB_PORT=9000\n")
    monkeypatch.setenv("WEB_PORT", "9100")
    settings = load_settings()
    assert settings.log.format == "json"
    assert settings.web.port == 9100


def test_secrets_are_masked_in_repr_and_collected_for_log_masking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-0000-1111-secretvalue")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-value")
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:db-password-1@db:5432/threadwise")
    settings = load_settings()
    assert "secretvalue" not in repr(settings)
    assert "db-password-1" not in repr(settings)
    secrets = settings.secret_values()
    assert {"xoxb-0000-1111-secretvalue", "signing-secret-value", "db-password-1"} <= set(secrets)


def test_discord_shards_are_a_comma_separated_subset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_SHARD_COUNT", "4")
    monkeypatch.setenv("DISCORD_SHARD_IDS", "2, 3")
    discord = load_settings().discord
    assert discord.sharded and discord.shard_ids == [2, 3]


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"DISCORD_SHARD_IDS": "0"}, "DISCORD_SHARD_COUNT"),
        ({"DISCORD_SHARD_COUNT": "2", "DISCORD_SHARD_IDS": "2"}, "DISCORD_SHARD_IDS"),
    ],
)
def test_discord_shard_ids_must_fit_the_count(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str) -> None:
    problems = problems_for(monkeypatch, **env)
    assert len(problems) == 1 and named in problems[0]


def test_a_read_replica_needs_a_postgres_url_and_a_primary(monkeypatch: pytest.MonkeyPatch) -> None:
    primary = "postgresql://u:p@db:5432/threadwise"
    database = load_settings(database={"url": primary, "read_url": "postgresql://u:p@replica:5432/threadwise"}).database
    read_url = database.async_read_url()
    assert read_url is not None and (read_url.drivername, read_url.host) == ("postgresql+asyncpg", "replica")
    assert load_settings(database={"url": primary}).database.async_read_url() is None
    (alone,) = problems_for(monkeypatch, DATABASE_READ_URL="postgresql://u:p@replica:5432/threadwise")
    assert "DATABASE_READ_URL is set without DATABASE_URL" in alone
    (mysql,) = problems_for(monkeypatch, DATABASE_URL=primary, DATABASE_READ_URL="mysql://u:p@replica/threadwise")
    assert "DATABASE_READ_URL" in mysql and "Threadwise needs PostgreSQL" in mysql


def test_workers_listen_past_a_transaction_pooler_or_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    pooler = "postgresql://u:p@pgbouncer:6432/threadwise"
    embedded = URL.create("postgresql+asyncpg", host="/data/pg", database="threadwise")
    # Without a pooler in transaction mode, the queue LISTENs where it runs its statements.
    assert load_settings().database.listen_url_for(embedded) == embedded
    pooled = load_settings(database={"url": pooler, "pool_mode": "Transaction"}).database
    assert pooled.pooled_per_transaction
    assert pooled.listen_url_for(make_url(pooler)) is None  # the workers poll
    # A listen URL without a database of its own reaches DATABASE_URL's database on the server itself.
    direct = load_settings(database={"url": pooler, "pool_mode": "transaction", "listen_url": "postgres://u:p@db:5432"})
    listen = direct.database.listen_url_for(make_url(pooler).set(drivername="postgresql+asyncpg"))
    assert listen is not None and (listen.drivername, listen.host, listen.port, listen.database) == (
        "postgresql+asyncpg",
        "db",
        5432,
        "threadwise",
    )
    (alone,) = problems_for(monkeypatch, DATABASE_LISTEN_URL="postgresql://u:p@db:5432")
    assert "DATABASE_LISTEN_URL is set without DATABASE_URL" in alone
    (mode,) = problems_for(monkeypatch, DATABASE_URL=pooler, DATABASE_POOL_MODE="statement")
    assert "DATABASE_POOL_MODE" in mode

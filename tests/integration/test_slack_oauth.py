"""Many Slack workspaces: each installs through OAuth v2 (``/slack/install`` → Slack's authorize page →
``/slack/oauth_redirect``), run by the real slack-bolt app served in process, the real slack_sdk talking to a fake
Slack, and the installs stored (tokens sealed) in a real PostgreSQL. Each workspace is served with its own token and
its own tenant; after ``app_uninstalled`` (or a revoked bot token) its token and its waiting questions are gone, and
its later events are acknowledged without any listener running."""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.doctor import run_checks
from bot.services import build_sources
from bot.slack.installations import InstallationStore, OAuthStateStore, TokenSeal
from bot.slack.workspaces import SlackWorkspaces, open_workspaces
from bot.web.app import create_app
from core.db import create_sessionmaker
from core.logging import configure_logging
from core.settings import AgentSettings, Settings, load_settings
from knowledge.service import KnowledgeBase
from tests.fakes.slack_api import (
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    SIGNING_SECRET,
    FakeSlack,
    FakeWorkspace,
    event_envelope,
)
from tests.integration.helpers.slack import mention, post_event, slack, slack_app, slash

__all__ = ["slack"]  # fixtures used below

KEY = Fernet.generate_key().decode()


def oauth_settings(database_url: str, fake: FakeSlack) -> Settings:
    return load_settings(
        database={"url": database_url},
        slack={
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": OAUTH_CLIENT_SECRET,
            "signing_secret": SIGNING_SECRET,
            "tokens_secret_key": KEY,
            "api_url": fake.api_url,
        },
    )


@asynccontextmanager
async def oauth_app(database_url: str, fake: FakeSlack) -> AsyncIterator[httpx.AsyncClient]:
    """The app's listeners without a worker: questions stay in the queue, where a test can see them."""
    app = create_app(oauth_settings(database_url, fake), worker=False)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        # https: the state's cookie is Secure, as a browser would only send it over HTTPS.
        async with httpx.AsyncClient(transport=transport, base_url="https://threadwise.test") as client:
            yield client


@asynccontextmanager
async def worker_side(database_url: str, fake: FakeSlack, engine: AsyncEngine) -> AsyncIterator[SlackWorkspaces]:
    """The workspaces as a worker process sees them: the same database and key, a store of its own."""
    async with AsyncExitStack() as stack:
        yield await open_workspaces(stack, oauth_settings(database_url, fake).slack, create_sessionmaker(engine))


async def start_install(client: httpx.AsyncClient) -> str:
    """``/slack/install``: the redirect to Slack's authorize page; returns the ``state`` it carries."""
    started = await client.get("/slack/install")
    assert started.status_code == 302, started.text
    authorize = urlsplit(started.headers["location"])
    assert (authorize.netloc, authorize.path) == ("slack.com", "/oauth/v2/authorize")
    query = parse_qs(authorize.query)
    assert query["client_id"] == [OAUTH_CLIENT_ID]
    assert {"app_mentions:read", "chat:write", "commands"} <= set(query["scope"][0].split(","))
    return query["state"][0]


async def install(client: httpx.AsyncClient, fake: FakeSlack, workspace: FakeWorkspace) -> httpx.Response:
    """The whole install, as the admin's browser goes through it."""
    state = await start_install(client)
    return await client.get("/slack/oauth_redirect", params={"code": fake.oauth.approve(workspace), "state": state})


async def stored_row(engine: AsyncEngine, team_id: str) -> dict[str, Any] | None:
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                text("SELECT * FROM slack_installations WHERE installed_into = :team"), {"team": team_id}
            )
        ).first()
    return None if row is None else dict(row._mapping)


async def queued_questions(engine: AsyncEngine, team_id: str) -> list[dict[str, Any]]:
    """The team's jobs waiting in pgqueuer, as the ChatEvents they carry."""
    async with engine.connect() as connection:
        rows = await connection.scalars(
            text(
                "SELECT convert_from(payload, 'UTF8') FROM pgqueuer WHERE status = 'queued'"
                " AND convert_from(payload, 'UTF8')::jsonb -> 'delivery' ->> 'team_id' = :team ORDER BY id"
            ),
            {"team": team_id},
        )
        return [json.loads(row) for row in rows]


def tokens_of(fake: FakeSlack, method: str) -> list[str | None]:
    return [call.token for call in fake.calls_to(method)]


@pytest.fixture(autouse=True)
async def no_questions_left_behind(slack: FakeSlack, engine: AsyncEngine) -> AsyncIterator[None]:
    """These tests run no worker: the questions they queue are deleted after each, or the worker of a later test
    (the database is the session's) would answer them into its own fake Slack."""
    yield
    teams = [workspace.team_id for workspace in slack.oauth.workspaces.values()]
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "DELETE FROM pgqueuer WHERE status = 'queued'"
                " AND convert_from(payload, 'UTF8')::jsonb -> 'delivery' ->> 'team_id' = ANY(:teams)"
            ),
            {"teams": teams},
        )


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Every log line of the test as the deployed process writes it (Bolt's included)."""
    stream = io.StringIO()
    configure_logging(log_format="json", level="INFO", stream=stream)
    yield stream
    configure_logging(log_format="json", level="INFO")


def errors_logged(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("level") in ("error", "critical")]


async def test_two_workspaces_install_and_each_is_served_with_its_own_token_and_tenant(
    database_url_text: str, slack: FakeSlack, engine: AsyncEngine
) -> None:
    acme, globex = slack.oauth.workspace("Acme"), slack.oauth.workspace("Globex")
    async with oauth_app(database_url_text, slack) as client:
        for workspace in (acme, globex):
            page = await install(client, slack, workspace)
            assert page.status_code == 200, page.text
            assert "Threadwise is installed" in page.text and workspace.name in page.text
            assert f"--tenant {workspace.team_id}" in page.text
        # Each workspace's events and commands are handled with its own token.
        for workspace in (acme, globex):
            assert (await post_event(client, mention(workspace.team_id, "how do I rotate the key?"))).status_code == 200
            refused = await slash(client, workspace.team_id, "mode off", user="U0ALICE")
            assert "Only workspace admins" in refused.text  # users.info, asked with the workspace's token
    assert tokens_of(slack, "users.info") == [acme.bot_token, globex.bot_token]
    # auth.test: once at install (Bolt's flow), once for the workspace's first request, not again per request.
    checked = tokens_of(slack, "auth.test")
    assert len(checked) == 4 and checked.count(acme.bot_token) == checked.count(globex.bot_token) == 2
    assert len(slack.calls_to("oauth.v2.access")) == 2

    for workspace in (acme, globex):
        row = await stored_row(engine, workspace.team_id)
        assert row is not None and row["team_name"] == workspace.name and row["bot_user_id"] == workspace.bot_user_id
        assert row["installer_user_id"] == workspace.installer and "chat:write" in row["bot_scopes"]
        assert workspace.bot_token not in json.dumps(row, default=str)  # never in clear
        assert Fernet(KEY.encode()).decrypt(row["bot_token_sealed"].encode()).decode() == workspace.bot_token
        # The question waits for a worker with its workspace: whose tenant it searches, whose token answers it.
        (question,) = await queued_questions(engine, workspace.team_id)
        assert question["tenant"] == workspace.team_id and question["delivery"]["team_id"] == workspace.team_id

    async with worker_side(database_url_text, slack, engine) as workspaces:
        for workspace in (acme, globex):
            found = await workspaces.client_for(workspace.team_id)
            assert found is not None and found.token == workspace.bot_token
            assert str(found.base_url) == slack.api_url
        assert await workspaces.client_for("T0NOTINSTALLED") is None


async def test_installing_again_replaces_the_workspaces_token(
    database_url_text: str, slack: FakeSlack, engine: AsyncEngine
) -> None:
    acme = slack.oauth.workspace("Acme")
    async with oauth_app(database_url_text, slack) as client:
        assert (await install(client, slack, acme)).status_code == 200
        assert (await install(client, slack, acme)).status_code == 200
    async with engine.connect() as connection:
        count = await connection.scalar(
            text("SELECT count(*) FROM slack_installations WHERE team_id = :team"), {"team": acme.team_id}
        )
    assert count == 1


async def test_a_forged_reused_or_foreign_state_is_refused(
    database_url_text: str, slack: FakeSlack, engine: AsyncEngine
) -> None:
    acme = slack.oauth.workspace("Acme")
    async with oauth_app(database_url_text, slack) as client:
        # A state we never issued, even with a matching cookie (one a forger can set in their own browser).
        forged = "forged-state-value"
        client.cookies.set("slack-app-oauth-state", forged, domain="threadwise.test")
        page = await client.get("/slack/oauth_redirect", params={"code": slack.oauth.approve(acme), "state": forged})
        assert page.status_code == 401 and "expired or was already used" in page.text
        client.cookies.clear()

        # A real state, brought back by another browser (no cookie): someone else's install link.
        state = await start_install(client)
        client.cookies.clear()
        page = await client.get("/slack/oauth_redirect", params={"code": slack.oauth.approve(acme), "state": state})
        assert page.status_code == 400 and "another browser" in page.text

        # A completed install's redirect, replayed.
        state = await start_install(client)
        cookies = dict(client.cookies)
        redirect = {"code": slack.oauth.approve(acme), "state": state}
        assert (await client.get("/slack/oauth_redirect", params=redirect)).status_code == 200
        client.cookies.update(cookies)  # the replaying browser still has the cookie
        replayed = await client.get("/slack/oauth_redirect", params=redirect)
        assert replayed.status_code == 401 and "expired or was already used" in replayed.text

        # The admin pressed Cancel on Slack's page.
        state = await start_install(client)
        cancelled = await client.get("/slack/oauth_redirect", params={"error": "access_denied", "state": state})
        assert cancelled.status_code == 200 and "cancelled" in cancelled.text
    # Only the one good install reached Slack's token exchange, and only it was stored.
    assert len(slack.calls_to("oauth.v2.access")) == 1
    assert await stored_row(engine, acme.team_id) is not None


async def test_a_code_slack_refuses_is_a_clear_failure_and_nothing_is_stored(
    database_url_text: str, slack: FakeSlack, engine: AsyncEngine
) -> None:
    acme = slack.oauth.workspace("Acme")
    async with oauth_app(database_url_text, slack) as client:
        state = await start_install(client)
        page = await client.get("/slack/oauth_redirect", params={"code": "not-a-code", "state": state})
    assert page.status_code == 401 and "did not accept the authorisation code" in page.text
    assert [call.response["error"] for call in slack.calls_to("oauth.v2.access")] == ["invalid_code"]
    assert await stored_row(engine, acme.team_id) is None


async def test_a_state_is_refused_once_expired(engine: AsyncEngine) -> None:
    states = OAuthStateStore(create_sessionmaker(engine), expiration_seconds=600)
    fresh, stale = await states.async_issue(), await states.async_issue()
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE slack_oauth_states SET expires_at = now() - interval '1 second' WHERE state = :s"),
            {"s": stale},
        )
    assert not await states.async_consume(stale)
    assert await states.async_consume(fresh)
    assert not await states.async_consume(fresh)  # once


@pytest.mark.parametrize(
    "removal",
    [
        {"type": "app_uninstalled"},
        {"type": "tokens_revoked", "tokens": {"oauth": ["U0INSTALLER"], "bot": ["UBOT"]}},
    ],
    ids=["app_uninstalled", "tokens_revoked"],
)
async def test_a_removed_workspace_loses_its_token_and_waiting_questions_and_is_ignored_after(
    database_url_text: str,
    slack: FakeSlack,
    engine: AsyncEngine,
    log_stream: io.StringIO,
    removal: dict[str, Any],
) -> None:
    acme, globex = slack.oauth.workspace("Acme"), slack.oauth.workspace("Globex")
    async with oauth_app(database_url_text, slack) as client, worker_side(database_url_text, slack, engine) as worker:
        for workspace in (acme, globex):
            assert (await install(client, slack, workspace)).status_code == 200
            await post_event(client, mention(workspace.team_id, "how do I rotate the key?"))
            assert (await slash(client, workspace.team_id, "ask where is the admin console?")).status_code == 200
        assert len(await queued_questions(engine, acme.team_id)) == 2
        assert await worker.client_for(acme.team_id) is not None  # the worker has it (and keeps it a moment)

        envelope = event_envelope(removal, event_id=f"Ev{uuid.uuid4().hex[:12]}", team_id=acme.team_id)
        assert (await post_event(client, envelope)).status_code == 200
        slack.oauth.revoke(acme)  # as Slack does: the token is refused from now on

        assert await stored_row(engine, acme.team_id) is None
        assert await queued_questions(engine, acme.team_id) == []
        assert len(await queued_questions(engine, globex.team_id)) == 2  # the other workspace keeps its own
        assert await stored_row(engine, globex.team_id) is not None

        # Later requests from the removed workspace, still in flight: acknowledged, and no listener runs.
        calls_before = len(slack.calls)
        late = await post_event(client, mention(acme.team_id, "are you still there?"))
        assert late.status_code == 200 and late.text == ""
        late_command = await slash(client, acme.team_id, "mode off", user="U0ALICE")
        assert late_command.status_code == 200 and late_command.text == ""
        assert await queued_questions(engine, acme.team_id) == []
        assert len(slack.calls) == calls_before  # no users.info, no auth.test, no apology
        # The same event again (Slack retries one it thinks was missed): nothing left to remove, still a 200.
        assert (await post_event(client, envelope)).status_code == 200

    # Another process (a worker) sees the workspace gone once its short cache of tokens expires.
    async with worker_side(database_url_text, slack, engine) as workspaces:
        assert await workspaces.client_for(acme.team_id) is None
        globex_client = await workspaces.client_for(globex.team_id)
        assert globex_client is not None and globex_client.token == globex.bot_token
    assert errors_logged(log_stream) == []
    logged = log_stream.getvalue()
    assert "slack workspace removed" in logged and "without an install ignored" in logged
    assert acme.bot_token not in logged and globex.bot_token not in logged


async def test_a_revoked_user_token_keeps_the_workspace(
    database_url_text: str, slack: FakeSlack, engine: AsyncEngine
) -> None:
    acme = slack.oauth.workspace("Acme")
    async with oauth_app(database_url_text, slack) as client:
        assert (await install(client, slack, acme)).status_code == 200
        revoked = {"type": "tokens_revoked", "tokens": {"oauth": ["U0INSTALLER"]}}
        envelope = event_envelope(revoked, event_id=f"Ev{uuid.uuid4().hex[:12]}", team_id=acme.team_id)
        assert (await post_event(client, envelope)).status_code == 200
    assert await stored_row(engine, acme.team_id) is not None


async def test_oauth_routes_are_a_404_with_a_single_bot_token(database_url_text: str, slack: FakeSlack) -> None:
    async with slack_app(database_url_text, slack) as client:
        for path in ("/slack/install", "/slack/oauth_redirect"):
            response = await client.get(path)
            assert response.status_code == 404 and "SLACK_CLIENT_ID" in response.json()["detail"]


async def test_a_token_sealed_with_another_key_is_not_used(
    database_url_text: str, slack: FakeSlack, engine: AsyncEngine
) -> None:
    acme = slack.oauth.workspace("Acme")
    async with oauth_app(database_url_text, slack) as client:
        assert (await install(client, slack, acme)).status_code == 200
    another_key = TokenSeal(SecretStr(Fernet.generate_key().decode()))
    store = InstallationStore(create_sessionmaker(engine), another_key)
    assert await store.async_find_bot(enterprise_id=None, team_id=acme.team_id) is None


def org_envelope(org: FakeWorkspace, team_id: str, event: dict[str, Any]) -> dict[str, Any]:
    """An event from workspace ``team_id`` of an Enterprise Grid organisation that installed the app org-wide."""
    return {
        "token": "unused",
        "team_id": team_id,
        "enterprise_id": org.team_id,
        "api_app_id": "A0APP0001",
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:12]}",
        "event_time": int(time.time()),
        "authorizations": [
            {
                "enterprise_id": org.team_id,
                "team_id": None,
                "user_id": org.bot_user_id,
                "is_bot": True,
                "is_enterprise_install": True,
            }
        ],
    }


async def test_an_org_wide_install_serves_each_workspace_of_the_organisation(
    database_url_text: str, slack: FakeSlack, engine: AsyncEngine
) -> None:
    org = slack.oauth.workspace("Initech", org_wide=True)
    team = f"T{uuid.uuid4().hex[:10].upper()}"  # one of the organisation's workspaces
    question = {
        "type": "app_mention",
        "user": "U0ALICE",
        "text": f"<@{org.bot_user_id}> how do I rotate the key?",
        "ts": f"{time.time():.6f}",
        "channel": "C0GENERAL",
    }
    async with oauth_app(database_url_text, slack) as client:
        page = await install(client, slack, org)
        assert page.status_code == 200 and "the organisation <b>Initech</b>" in page.text
        assert (await post_event(client, org_envelope(org, team, question))).status_code == 200
        row = await stored_row(engine, org.team_id)
        assert row is not None and row["is_enterprise_install"] and row["team_id"] is None
        assert (row["enterprise_name"], row["enterprise_url"]) == ("Initech", "https://initech.slack.com/")
        (queued,) = await queued_questions(engine, team)
        # The workspace keeps its own tenant; the job names the organisation whose install holds the token.
        assert queued["tenant"] == team
        assert (queued["delivery"]["team_id"], queued["delivery"]["enterprise_id"]) == (team, org.team_id)
        async with worker_side(database_url_text, slack, engine) as workspaces:
            found = await workspaces.client_for(team, enterprise_id=org.team_id)
            assert found is not None and found.token == org.bot_token
            assert await workspaces.client_for(team) is None  # the workspace has no install of its own

        removed = org_envelope(org, team, {"type": "app_uninstalled"})
        assert (await post_event(client, removed)).status_code == 200
    assert tokens_of(slack, "auth.test") == [org.bot_token, org.bot_token]  # the install, then the first event
    assert await stored_row(engine, org.team_id) is None
    assert await queued_questions(engine, team) == []


async def answer_posted(fake: FakeSlack, channel: str, thread_ts: str) -> dict[str, Any]:
    """The bot's finished answer in the thread (posted, edited or streamed), once it is there."""
    for _ in range(600):
        done = [m for m in fake.thread(channel, thread_ts) if m.get("text") and not m.get("streaming")]
        if done and any(call.method in ("chat.postMessage", "chat.stopStream", "chat.update") for call in fake.calls):
            return done[-1]
        await asyncio.sleep(0.05)
    raise AssertionError("no answer in the thread")


async def test_each_workspace_is_answered_with_its_own_token_from_its_own_documents_until_it_uninstalls(
    database_url_text: str, slack: FakeSlack, engine: AsyncEngine, kb: KnowledgeBase, tmp_path: Path
) -> None:
    acme, globex = slack.oauth.workspace("Acme"), slack.oauth.workspace("Globex")
    for workspace, secret in ((acme, "Acme rotates keys from the Vault tab"), (globex, "Globex rotates keys by fax")):
        (tmp_path / f"{workspace.team_id}.md").write_text(f"# Keys\n\n## Rotate the key\n\n{secret}.\n")
        await kb.ingest([str(tmp_path / f"{workspace.team_id}.md")], tenant=workspace.team_id, collection="guide")
    app = create_app(
        oauth_settings(database_url_text, slack).model_copy(update={"agent": AgentSettings(min_similarity=0.25)})
    )
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="https://threadwise.test") as client:
            for workspace in (acme, globex):
                assert (await install(client, slack, workspace)).status_code == 200
            answered, threads = {}, {}
            for workspace in (acme, globex):
                envelope = mention(workspace.team_id, "how do I rotate the key?")
                await post_event(client, envelope)
                threads[envelope["event"]["ts"]] = workspace.bot_token
                answered[workspace.team_id] = await answer_posted(slack, "C0GENERAL", envelope["event"]["ts"])
            posting = [
                c for c in slack.calls if c.method in ("chat.postMessage", "chat.startStream", "chat.stopStream")
            ]
            await post_event(
                client, event_envelope({"type": "app_uninstalled"}, event_id="EvGone1", team_id=acme.team_id)
            )
            slack.oauth.revoke(acme)
            before = len(slack.calls)
            late = mention(acme.team_id, "how do I rotate the key?")
            assert (await post_event(client, late)).status_code == 200
            await asyncio.sleep(1.0)
    assert "Vault tab" in answered[acme.team_id]["text"] and "fax" not in answered[acme.team_id]["text"]
    assert "fax" in answered[globex.team_id]["text"] and "Vault" not in answered[globex.team_id]["text"]
    assert {c.token for c in posting} == {acme.bot_token, globex.bot_token}
    assert all(c.token == threads[c.args["thread_ts"]] for c in posting if c.args.get("thread_ts") in threads)
    assert slack.thread("C0GENERAL", late["event"]["ts"]) == []  # nothing posted for the uninstalled workspace
    assert all(c.token != acme.bot_token or c.method == "auth.test" for c in slack.calls[before:])


async def test_a_channel_learnt_in_a_workspace_is_read_with_that_workspaces_token(
    database_url_text: str, slack: FakeSlack, engine: AsyncEngine, kb: KnowledgeBase
) -> None:
    acme, globex = slack.oauth.workspace("Acme"), slack.oauth.workspace("Globex")
    slack.channels.add("C0GENERAL", "general")
    slack.channels.thread("C0GENERAL", "Where is the VPN config?", "In the wiki, under Network.")
    async with oauth_app(database_url_text, slack) as client:
        for workspace in (acme, globex):
            assert (await install(client, slack, workspace)).status_code == 200
        on = await slash(client, acme.team_id, "learn on", user="UADMIN001")
        assert "Learning from #general" in on.text, on.text
    sources = build_sources(oauth_settings(database_url_text, slack), kb)
    try:
        status = await sources.get(tenant=acme.team_id, name="slack-C0GENERAL")
        assert status.settings["team"] == acme.team_id
        report = await sources.sync(tenant=acme.team_id, name="slack-C0GENERAL")
        assert report.error is None and report.written == 1, report
        assert set(tokens_of(slack, "conversations.history")) == {acme.bot_token}
        assert set(tokens_of(slack, "conversations.replies")) == {acme.bot_token}
        # Once the workspace uninstalls, its channel is not read with anyone's token: the run says why.
        assert await InstallationStore(create_sessionmaker(engine), TokenSeal(SecretStr(KEY))).uninstall(
            enterprise_id=None, team_id=acme.team_id, is_enterprise_install=False
        )
        slack.oauth.revoke(acme)
        later = build_sources(oauth_settings(database_url_text, slack), kb)  # a process that syncs after it
        failed = await later.sync(tenant=acme.team_id, name="slack-C0GENERAL")
        assert failed.error is not None and "not installed in Slack workspace" in failed.error, failed
        assert set(tokens_of(slack, "conversations.history")) == {acme.bot_token}
    finally:
        await sources.remove(tenant=acme.team_id, name="slack-C0GENERAL")


async def test_doctor_counts_the_installs_and_says_when_the_key_cannot_open_them(
    database_url_text: str, slack: FakeSlack
) -> None:
    async with oauth_app(database_url_text, slack) as client:
        assert (await install(client, slack, slack.oauth.workspace("Acme"))).status_code == 200
    settings = oauth_settings(database_url_text, slack)
    (check,) = [check for check in await run_checks(settings) if check.name == "slack"]
    assert check.ok and re.fullmatch(r"many workspaces \(OAuth installs\): \d+ installed", check.detail), check
    # Another key (lost, or changed by mistake) opens none of the tokens sealed with this one.
    other_key = settings.slack.model_copy(update={"tokens_secret_key": SecretStr(Fernet.generate_key().decode())})
    (check,) = [c for c in await run_checks(settings.model_copy(update={"slack": other_key})) if c.name == "slack"]
    assert not check.ok and "sealed with another SLACK_TOKENS_SECRET_KEY" in check.detail, check

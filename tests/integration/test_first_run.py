"""First-run help: a workspace whose tenant has no documents, while the default tenant has, is told how to fix it,
in the answer (tests/integration/test_slack_follow_ups.py) and by `threadwise doctor`."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.access.principal import DEFAULT_TENANT
from bot.first_run import FirstRunHelp
from core.db import session_scope
from knowledge.service import KnowledgeBase
from knowledge.sources.service import Sources
from knowledge.sources.store import find_source, finish
from tests.fakes.slack_api import SIGNING_SECRET, FakeSlack
from tests.integration.helpers.cli import env, run
from tests.integration.helpers.slack import GUIDE, slack

__all__ = ["env", "slack"]  # fixtures used below


async def test_the_hint_needs_an_empty_tenant_and_a_default_one_with_documents(
    kb: KnowledgeBase, tenant: str, tmp_path: Path
) -> None:
    default, empty, stocked = f"{tenant}-default", f"{tenant}-empty", f"{tenant}-stocked"
    help_ = FirstRunHelp(kb.sessionmaker, default_tenant=default)
    assert await help_.problem(platform="slack", tenant=empty) is None  # the default has nothing either
    (tmp_path / "guide.md").write_text(GUIDE)
    for owner in (default, stocked):
        await kb.ingest([str(tmp_path / "guide.md")], tenant=owner, collection="guide")
    fresh = FirstRunHelp(kb.sessionmaker, default_tenant=default)  # what it learnt is kept for a minute
    hint = await fresh.problem(platform="discord", tenant=empty)
    assert hint is not None and f"--tenant {empty}" in hint and f"DISCORD_TENANT={default}" in hint
    assert "server" in hint
    assert await fresh.problem(platform="slack", tenant=stocked) is None
    assert await fresh.problem(platform="slack", tenant=default) is None


@pytest.mark.slow  # `threadwise doctor` in a process of its own
async def test_doctor_says_how_to_give_the_workspace_documents(
    kb: KnowledgeBase, slack: FakeSlack, env: dict[str, str], tenant: str, tmp_path: Path
) -> None:
    (tmp_path / "guide.md").write_text(GUIDE)
    await kb.ingest([str(tmp_path / "guide.md")], tenant=DEFAULT_TENANT, collection="first-run-doctor")
    # A failing source elsewhere fails doctor's sources check, and must not hide the tenant check.
    sources = Sources(kb)
    await sources.add(
        tenant=tenant, name="broken", kind="website", collection="web", settings={"start_urls": ["http://127.0.0.1:9/"]}
    )
    async with session_scope(kb.sessionmaker) as session:
        broken = await find_source(session, tenant=tenant, name="broken")
        assert broken is not None
        await finish(session, broken.id, error="the site did not answer")
    fresh = slack.oauth.workspace("Fresh")  # a workspace of its own: no other test has given it documents
    slack_env = {
        "SLACK_BOT_TOKEN": fresh.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
    }
    try:
        told = run("doctor", **env, **slack_env)
        pinned = run("doctor", **env, **slack_env, SLACK_TENANT=DEFAULT_TENANT)
    finally:
        await kb.delete_collection(tenant=DEFAULT_TENANT, name="first-run-doctor")
        await sources.remove(tenant=tenant, name="broken")
    assert told.returncode == 1, told.stdout + told.stderr
    assert "✗ tenant" in told.stdout and f"threadwise ingest PATH --tenant {fresh.team_id}" in told.stdout
    assert "SLACK_TENANT=local" in told.stdout
    assert "✗ tenant" not in pinned.stdout and "✓ tenant" not in pinned.stdout  # SLACK_TENANT pins it: no check

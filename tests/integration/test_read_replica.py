"""``DATABASE_READ_URL``: the searches behind answers go to the read replica, everything else to the primary. The
replica here is a second database, migrated like the primary, that lags behind it: what was just written to the
primary is not on it until it is copied there (as a streaming replica's lag would show)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL

from agent.schemas import AnswerRequest, ConversationKey
from bot.doctor import run_checks
from bot.services import build_services
from core.db import create_engine, create_sessionmaker
from core.schema import run_migrations
from core.settings import KnowledgeSettings, load_settings
from knowledge.collection_cache import COLLECTIONS_FRESH_SECONDS
from knowledge.embeddings import LocalEmbedder
from knowledge.service import KnowledgeBase
from tests.conftest import database_settings_for_tests
from tests.integration.conftest import DatabaseFactory
from tests.integration.helpers.slack import GUIDE

TENANT = "replica-test"
QUESTION = "how do I rotate the signing key?"


async def test_answers_search_the_replica_and_writes_go_to_the_primary(
    database_url: URL, databases: DatabaseFactory, embedder: LocalEmbedder, tmp_path: Path
) -> None:
    replica_url = await databases.create()
    replica = create_engine(replica_url, role="tests", database=database_settings_for_tests())
    primary = create_engine(database_url, role="tests", database=database_settings_for_tests())
    try:
        await run_migrations(replica, "upgrade", "head")
        await replica.dispose()  # its connections predate pgvector: they cannot send vectors
        (tmp_path / "guide.md").write_text(GUIDE)
        settings = load_settings(
            database={
                "url": database_url.render_as_string(hide_password=False),
                "read_url": replica_url.render_as_string(hide_password=False),
            }
        )
        services = build_services(settings, primary)
        try:
            # Written through the services: to the primary. The replica has not caught up yet.
            report = await services.knowledge.ingest([str(tmp_path / "guide.md")], tenant=TENANT, collection="guide")
            assert report.chunks_written >= 1
            request = AnswerRequest(
                conversation=ConversationKey(tenant=TENANT, platform="web", channel="replica", thread=""),
                user_id="u1",
                question=QUESTION,
            )
            lagging = await services.agent.answer(request)
            assert lagging.outcome == "abstained" and not lagging.retrieved
            # The replica catches up (here: the same document written to it), and the next answer finds it there.
            copy = KnowledgeBase(
                sessionmaker=create_sessionmaker(replica), embedder=embedder, settings=KnowledgeSettings()
            )
            await copy.ingest([str(tmp_path / "guide.md")], tenant=TENANT, collection="guide")
            await asyncio.sleep(COLLECTIONS_FRESH_SECONDS + 0.1)  # the replica's collections are looked up again
            caught_up = await services.agent.answer(request)
            assert caught_up.outcome == "answered" and "press Rotate" in caught_up.text
        finally:
            await services.aclose()
        # Every write went to the primary: the answers' conversation is not on the replica.
        async with replica.connect() as connection:
            assert await connection.scalar(text("SELECT count(*) FROM conversations")) == 0
        async with primary.connect() as connection:
            stored = "SELECT count(*) FROM conversations WHERE tenant = :tenant"
            assert await connection.scalar(text(stored), {"tenant": TENANT}) == 1
        # Doctor checks the replica as it checks the primary.
        replica_checks = [check for check in await run_checks(settings) if check.name.startswith("replica ")]
        assert [(check.name, check.ok) for check in replica_checks] == [
            ("replica database", True),
            ("replica pgvector", True),
            ("replica migrations", True),
        ]
    finally:
        await primary.dispose()
        await replica.dispose()

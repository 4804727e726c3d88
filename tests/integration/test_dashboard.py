"""The dashboard's figures (``agent.reports``), the knowledge-gap report (``agent.gaps``, ``threadwise report
gaps``) and ``GET /admin`` itself, checked against seeded conversations and votes; the page also in Chromium."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs
from typer.testing import CliRunner

from agent.gaps import knowledge_gaps
from agent.memory import AnswerRecord, ConversationStore
from agent.reports import overview
from agent.schemas import ConversationKey
from agent.text_vectors import TextVectors
from bot.cli import app as cli
from bot.web.app import create_app
from core.db import create_sessionmaker
from core.settings import load_settings
from knowledge.documents import SourceDocument
from knowledge.embeddings.local import LocalEmbedder
from knowledge.service import KnowledgeBase
from tests.browser import chromium
from tests.counting_embedder import CountingEmbedder
from tests.integration.helpers.api import ADMIN_TOKEN, client_for
from tests.integration.helpers.dashboard import SEEDED, seeded
from tests.integration.live_server import serving

__all__ = ["seeded"]  # a fixture used below


def _week_ago() -> datetime:
    return datetime.now(UTC) - timedelta(days=7)


async def test_overview_counts_the_seeded_questions(engine: AsyncEngine, seeded: str) -> None:
    figures = await overview(
        create_sessionmaker(engine), since=_week_ago(), until=datetime.now(UTC).date(), tenant=seeded
    )
    assert (figures.questions, figures.answered, figures.abstained, figures.error) == (5, 2, 2, 1)
    assert figures.rate("answered") == pytest.approx(0.4) and figures.rate("error") == pytest.approx(0.2)
    assert (figures.up_votes, figures.down_votes) == (2, 1) and figures.up_share == pytest.approx(2 / 3)
    assert figures.latency_p50_ms == 300 and figures.latency_p95_ms == pytest.approx(480)
    assert len(figures.days) == 8 and figures.days[-1].total == 5 and sum(d.total for d in figures.days) == 5
    assert [(c.channel, c.questions, c.down_votes) for c in figures.channels] == [("C1", 3, 1), ("C2", 2, 0)]
    assert [(s.source_uri, s.citations) for s in figures.sources] == [("docs/deploy.md", 2), ("docs/office.md", 1)]
    assert [r.question for r in figures.recent] == [a.question for a in reversed(SEEDED)]
    assert (figures.recent[-1].up_votes, figures.recent[-2].down_votes) == (2, 1)


async def test_a_cited_page_is_titled_by_the_answers_own_tenant(engine: AsyncEngine, kb: KnowledgeBase) -> None:
    """Two tenants keep a page at the same address under different titles: each one's answers show its own title,
    in its own report and in the all-tenants one (the operator's)."""
    uri = f"https://intranet.example/{uuid.uuid4().hex[:8]}/plans"
    acme, globex = (f"dash-{uuid.uuid4().hex[:8]}" for _ in range(2))
    titles = {acme: "Acme: the merger plans", globex: "Globex: rota"}
    sessionmaker = create_sessionmaker(engine)
    store = ConversationStore(sessionmaker)
    for tenant, title in titles.items():  # the second tenant's document is the newer
        page = SourceDocument(uri, title, f"# {title}\n\nWhat we plan.")
        await kb.add_documents([page], tenant=tenant, collection="wiki")
        conversation_id = await store.open(ConversationKey(tenant=tenant, platform="slack", channel="C1"))
        await store.record(
            conversation_id,
            AnswerRecord(
                question="What are the plans?",
                standalone_question="What are the plans?",
                answer="These [1].",
                outcome="answered",
                cited_sources=(uri,),
            ),
        )
    today = datetime.now(UTC).date()

    everyone = await overview(sessionmaker, since=_week_ago(), until=today, top=100_000)
    own = {tenant: await overview(sessionmaker, since=_week_ago(), until=today, tenant=tenant) for tenant in titles}

    assert sorted((s.tenant, s.title, s.citations) for s in everyone.sources if s.source_uri == uri) == sorted(
        (tenant, title, 1) for tenant, title in titles.items()
    )
    for tenant, title in titles.items():
        assert [(s.tenant, s.source_uri, s.title) for s in own[tenant].sources] == [(tenant, uri, title)]


async def test_gaps_group_paraphrases_and_keep_the_comments(
    engine: AsyncEngine, embedder: LocalEmbedder, seeded: str
) -> None:
    groups = await knowledge_gaps(create_sessionmaker(engine), TextVectors(embedder), since=_week_ago(), tenant=seeded)
    assert [(g.count, g.abstained, g.down_votes) for g in groups] == [(2, 2, 0), (1, 0, 1)]
    assert {q.question for q in groups[0].questions} == {SEEDED[2].question, SEEDED[3].question}
    assert groups[1].label == "Where is the office?"
    assert groups[1].questions[0].comments == ("The office moved last year.",)


async def test_gap_questions_are_embedded_once_across_dashboard_loads(engine: AsyncEngine, seeded: str) -> None:
    embedder = CountingEmbedder()
    vectors = TextVectors(embedder)
    sessionmaker = create_sessionmaker(engine)
    first = await knowledge_gaps(sessionmaker, vectors, since=_week_ago(), tenant=seeded)
    embedded_first = len(embedder.embedded)
    again = await knowledge_gaps(sessionmaker, vectors, since=_week_ago(), tenant=seeded)

    assert embedded_first == 3 and len(embedder.embedded) == 3  # three gap questions, none embedded twice
    assert [[q.answer_id for q in g.questions] for g in again] == [[q.answer_id for q in g.questions] for g in first]


def test_report_gaps_in_the_terminal(database_url_text: str, seeded: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url_text)
    runner = CliRunner()
    as_csv = runner.invoke(cli, ["report", "gaps", "--since", "7d", "--tenant", seeded, "--format", "csv"])
    as_markdown = runner.invoke(cli, ["report", "gaps", "--tenant", seeded, "--format", "markdown"])
    bad = runner.invoke(cli, ["report", "gaps", "--since", "a while"])
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [(r["group"], r["group_size"], r["outcome"]) for r in rows] == [
        ("1", "2", "abstained"),
        ("1", "2", "abstained"),
        ("2", "1", "answered"),
    ]
    assert rows[2]["comments"] == "The office moved last year." and rows[2]["channel"] == "C1"
    assert as_markdown.exit_code == 0 and "| Where is the office? | 1 | 0 | 1 |" in as_markdown.stdout
    assert bad.exit_code != 0 and "not a duration like 7d" in bad.output


async def test_the_dashboard_needs_the_token_and_logs_no_secrets_or_text(database_url_text: str, seeded: str) -> None:
    with capture_logs() as logs:
        async with client_for(database_url_text, admin={"token": ADMIN_TOKEN}) as client:
            anonymous = await client.get(f"/admin?tenant={seeded}")
            wrong = await client.get("/admin", auth=("admin", "not-the-token"))
            as_login = await client.get(f"/admin?tenant={seeded}", auth=("anyone", ADMIN_TOKEN))
            as_bearer = await client.get(
                f"/admin?tenant={seeded}&days=30", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
            )
    assert anonymous.status_code == wrong.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Basic")  # the browser asks for a login
    assert as_login.status_code == as_bearer.status_code == 200
    assert 'id="questions">5<' in as_login.text and "VPN" in as_login.text
    informative = [entry for entry in logs if entry["log_level"] not in ("debug",)]
    assert informative, "the requests were logged"
    assert not any(ADMIN_TOKEN in str(entry) or "VPN password" in str(entry) for entry in informative)


@pytest.mark.slow  # in Chromium
async def test_the_dashboard_in_chromium_shows_the_seeded_figures(
    database_url_text: str, seeded: str, tmp_path: Path
) -> None:
    settings = load_settings(database={"url": database_url_text})
    async with serving(create_app(settings)) as base_url, chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 1000})
        response = await page.goto(f"{base_url}/admin?tenant={seeded}&days=7")
        assert response is not None and response.status == 200
        shown = {
            name: await page.inner_text(f"#{name}")
            for name in ("questions", "answered-rate", "abstained-rate", "error-rate", "up-votes", "down-votes")
        }
        latency = await page.inner_text("#latency")
        gap_counts = await page.locator("#gaps .gap-count").all_inner_texts()
        first_gap = await page.inner_text("#gaps .gap .gap-label")
        channels = await page.locator("#channels tbody tr").all_inner_texts()
        sources = await page.locator("#sources tbody tr").all_inner_texts()
        bars = await page.locator("svg.chart g[data-total='5']").count()
        await page.screenshot(path=tmp_path / "dashboard.png", full_page=True)
    assert shown == {
        "questions": "5",
        "answered-rate": "40%",
        "abstained-rate": "40%",
        "error-rate": "20%",
        "up-votes": "2",
        "down-votes": "1",
    }
    assert latency == "300 / 480"
    assert gap_counts == ["2", "1"] and "VPN" in first_gap
    assert [row.split("\t")[:3] for row in channels] == [["slack", "C1", "3"], ["slack", "C2", "2"]]
    assert "docs/deploy.md" in sources[0] and sources[0].rstrip().endswith("2")
    assert bars == 1  # today's bar: all five questions
    assert (tmp_path / "dashboard.png").stat().st_size > 20_000

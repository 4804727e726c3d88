"""The dashboard's figures (``agent.reports``), the knowledge-gap report (``agent.gaps``, ``threadwise report
gaps``) and ``GET /admin`` itself, checked against seeded conversations and votes; the page also in Chromium."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs
from typer.testing import CliRunner

from agent.feedback import FeedbackStore
from agent.gaps import knowledge_gaps
from agent.memory import AnswerRecord, ConversationStore
from agent.reports import overview
from agent.schemas import ConversationKey
from agent.text_vectors import TextVectors
from bot.cli import app as cli
from bot.web.app import create_app
from core.db import create_sessionmaker
from core.settings import load_settings
from knowledge.embeddings.local import LocalEmbedder
from tests.browser import chromium
from tests.counting_embedder import CountingEmbedder
from tests.integration.live_server import serving
from tests.integration.test_api import ADMIN_TOKEN, client_for


@dataclass(frozen=True)
class Asked:
    channel: str
    question: str
    outcome: str
    latency_ms: int
    cited: tuple[str, ...] = ()


SEEDED = [
    Asked("C1", "How do I deploy the service?", "answered", 100, ("docs/deploy.md",)),
    Asked("C1", "Where is the office?", "answered", 200, ("docs/office.md", "docs/deploy.md")),
    Asked("C1", "How do I reset my VPN password?", "abstained", 300),
    Asked("C2", "How can I reset the password for the VPN?", "abstained", 400),
    Asked("C2", "Why did the nightly export crash?", "error", 500),
]


@pytest.fixture
async def seeded(engine: AsyncEngine) -> str:
    """Five answered, abstained or failed questions in a tenant of their own: 👍👍 on the first, 👎 with a
    comment on the second."""
    tenant = f"dash-{uuid.uuid4().hex[:8]}"
    sessionmaker = create_sessionmaker(engine)
    store, feedback = ConversationStore(sessionmaker), FeedbackStore(sessionmaker)
    answer_ids = []
    for index, asked in enumerate(SEEDED):
        key = ConversationKey(tenant=tenant, platform="slack", channel=asked.channel, thread=f"t{index}")
        conversation_id = await store.open(key)
        _, answer_id = await store.record(
            conversation_id,
            AnswerRecord(
                question=asked.question,
                standalone_question=asked.question,
                answer=f"answer {index}",
                outcome=asked.outcome,
                latency_ms=asked.latency_ms,
                cited_sources=asked.cited,
            ),
        )
        answer_ids.append(answer_id)
    await feedback.vote(message_id=answer_ids[0], user_id="U1", score=1, reaction="+1")
    await feedback.vote(message_id=answer_ids[0], user_id="U2", score=1, reaction="+1")
    await feedback.vote(
        message_id=answer_ids[1], user_id="U3", score=-1, reaction="-1", comment="The office moved last year."
    )
    return tenant


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

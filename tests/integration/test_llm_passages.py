"""With an LLM: the model reads whole passages with their code intact and their links resolved to the published
site, and a question naming something the documents never mention is refused before the model is asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.schemas import AnswerRequest, ConversationKey
from agent.service import AgentService
from core.settings import AgentSettings, LLMSettings
from knowledge.published import PublishedSite
from knowledge.service import KnowledgeBase
from tests.fakes.openai_server import Reply, scripted_llm

CODE = "```bash\n$ threadwise db upgrade\n\n$ threadwise serve --port 8000\n```"
GUIDE = f"""# Deployment

## Starting the server

Migrate the database first, then start the web process. See the
[configuration reference](../reference/config.md#ports) for the port settings:

{CODE}
"""


@pytest.fixture
async def docs(kb: KnowledgeBase, tenant: str, tmp_path: Path) -> str:
    root = tmp_path / "docs"
    (root / "guide").mkdir(parents=True)
    (root / "reference").mkdir()
    (root / "guide" / "deploy.md").write_text(GUIDE)
    (root / "reference" / "config.md").write_text("# Configuration\n\n## Ports\n\nThe web process listens on 8000.\n")
    site = PublishedSite.create(base="https://docs.example.com/threadwise", style="mkdocs")
    await kb.ingest([str(root)], tenant=tenant, collection="docs", site=site)
    return tenant


def agent(kb: KnowledgeBase, base_url: str) -> AgentService:
    llm = LLMSettings.model_validate({"model": "openai:primary", "base_url": base_url, "api_key": "k"})
    settings = AgentSettings(sources=3, min_similarity=0.3)
    return AgentService(knowledge=kb, sessionmaker=kb.sessionmaker, llm=llm, settings=settings)


async def test_the_model_reads_code_byte_for_byte_and_published_links(kb: KnowledgeBase, docs: str) -> None:
    with scripted_llm(Reply("Run the two commands [1].")) as fake:
        service = agent(kb, fake.base_url)
        try:
            key = ConversationKey(tenant=docs, platform="test", channel="c")
            reply = await service.answer(AnswerRequest(question="How do I start the server?", conversation=key))
        finally:
            await service.aclose()
    assert reply.outcome == "answered"
    (request,) = fake.chat_requests
    assert request.body is not None
    prompt = "\n".join(str(message["content"]) for message in request.body["messages"])
    assert CODE in prompt
    assert "[configuration reference](https://docs.example.com/threadwise/reference/config/#ports)" in prompt
    assert "Migrate the database first, then start the web process. See the [configuration" in prompt  # unwrapped
    assert reply.sources[0].url == "https://docs.example.com/threadwise/guide/deploy/"


async def test_an_on_topic_question_about_an_absent_name_is_refused_without_asking_the_model(
    kb: KnowledgeBase, docs: str
) -> None:
    with scripted_llm(Reply("Use Kubernetes [1].")) as fake:
        service = agent(kb, fake.base_url)
        try:
            key = ConversationKey(tenant=docs, platform="test", channel="c")
            reply = await service.answer(
                AnswerRequest(question="How do I start the server on Kubernetes with Helm?", conversation=key)
            )
        finally:
            await service.aclose()
    assert reply.outcome == "abstained"
    assert reply.text.startswith("I found nothing about Kubernetes or Helm in the knowledge base.")
    assert fake.chat_requests == []

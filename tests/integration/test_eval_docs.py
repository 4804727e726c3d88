"""``threadwise eval docs`` as a user runs it: a tiny documentation folder and docs-qa questions, real PostgreSQL,
the local embedder and a real ``AgentService`` (no LLM); the temporary collection is gone afterwards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers.cli import assert_no_traceback, run

pytestmark = pytest.mark.slow  # each test runs `threadwise` in a process of its own


@pytest.fixture
def env(database_url_text: str, tmp_path: Path) -> dict[str, str]:
    # No LLM: the default, extractive mode is what the figures describe.
    return {"DATABASE_URL": database_url_text, "APP_DATA_DIR": str(tmp_path / "data"), "LLM_MODEL": ""}


def write_corpus(root: Path) -> Path:
    corpus = root / "corpus"
    (corpus / "guide").mkdir(parents=True)
    (corpus / "install.md").write_text(
        "# Installing Widgetkit\n\nInstall the Widgetkit client from PyPI with pip:\n\n"
        "```shell\npip install widgetkit\n```\n"
    )
    (corpus / "guide" / "timeouts.md").write_text(
        "# Timeouts\n\nThe Widgetkit client gives up on a request after a default timeout of 5 seconds.\n\n"
        "Pass `WidgetClient(timeout=30)` to wait longer for slow servers.\n"
    )
    (corpus / "guide" / "auth.md").write_text(
        "# Authentication\n\n## Basic authentication\n\n"
        'Send a user name and password to the Widgetkit client with `WidgetClient(auth=("user", "secret"))`.\n\n'
        "## Bearer tokens\n\nFor bearer token authentication, pass `WidgetClient(auth=BearerAuth(token))` instead.\n"
    )
    (corpus / "changelog.md").write_text(
        "# Changelog\n\n## 2.0\n\nWidgetkit 2.0 dropped support for Python 3.8 and renamed the retry option.\n"
    )
    return corpus


def write_questions(root: Path) -> Path:
    rows = [
        {
            "id": "w-a01",
            "kind": "answerable",
            "question": "whats the default timout of the widgetkit client?",
            "keys": [["5 seconds"]],
            "sources": ["guide/timeouts.md"],
        },
        {"id": "w-u01", "kind": "unanswerable", "question": "What is the office sourdough bread recipe?"},
        {
            "id": "w-f01",
            "kind": "followup",
            "turns": ["How do I use basic authentication with the Widgetkit client?", "and what about bearer tokens?"],
            "keys": [["BearerAuth("]],
            "sources": ["guide/auth.md"],
        },
    ]
    path = root / "questions.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def eval_collections(env: dict[str, str]) -> list[str]:
    listed = run("collections", "list", "--tenant", "eval", "--json", **env)
    assert listed.returncode == 0, listed.stderr
    return [c["name"] for c in json.loads(listed.stdout) if c["name"].startswith("docs:corpus:")]


def test_eval_docs_prints_the_figures_and_drops_its_collection(env: dict[str, str], tmp_path: Path) -> None:
    args = ("eval", "docs", "--questions", str(write_questions(tmp_path)), "--corpus", str(write_corpus(tmp_path)))

    result = run(*args, "--json", **env)

    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert (figures["documents"], figures["skipped"]) == (4, 0)
    assert figures["agent"]["extractive"] is True
    kinds = figures["kinds"]
    assert (kinds["answerable"]["correct"], kinds["answerable"]["source_hits"]) == (1, 1)
    assert kinds["unanswerable"]["correct"] == 1 and kinds["unanswerable"]["outcomes"]["abstained"] == 1
    assert (kinds["followup"]["correct"], kinds["followup"]["source_hits"]) == (1, 1)
    items = {item["id"]: item for item in figures["items"]}
    assert len(items["w-f01"]["latency_ms"]) == 2  # both turns asked, the second scored
    assert figures["latency_ms"]["p50"] > 0
    assert eval_collections(env) == []

    printed = run(*args, **env)

    assert printed.returncode == 0, printed.stderr
    assert_no_traceback(printed)
    lines = printed.stdout.splitlines()
    assert any("4 documents" in line for line in lines), printed.stdout
    for label, figure in [
        ("answerable: correct", "1/1"),
        ("answerable: source hit", "1/1"),
        ("unanswerable: refused", "1/1"),
        ("follow-ups: correct (turn 2)", "1/1"),
    ]:
        row = next(line for line in lines if label in line)
        assert figure in row and "100.0%" in row, row
    assert any("latency p50 / p95" in line for line in lines)
    assert eval_collections(env) == []


def test_eval_docs_refuses_a_missing_corpus_in_one_line(env: dict[str, str], tmp_path: Path) -> None:
    result = run("eval", "docs", "--questions", str(write_questions(tmp_path)), "--corpus", str(tmp_path / "no"), **env)
    assert result.returncode == 1 and "is not a folder" in result.stderr
    assert_no_traceback(result)

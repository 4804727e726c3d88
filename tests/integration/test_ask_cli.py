"""``threadwise ask`` and ``threadwise chat`` as a user runs them (extractive mode, no LLM configured)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.integration.helpers.cli import THREADWISE, assert_no_traceback, env, run, tenant, write_docs

__all__ = ["env", "tenant"]  # fixtures used below

pytestmark = pytest.mark.slow  # each test runs `threadwise` in a process of its own


def test_ask_answers_with_sources_and_follows_up(env: dict[str, str], tenant: str, tmp_path: Path) -> None:
    docs = write_docs(tmp_path)
    assert run("ingest", str(docs), "--collection", "handbook", "--tenant", tenant, **env).returncode == 0
    env = env | {"AGENT_MIN_SIMILARITY": "0.25"}

    shown = run("ask", "How do I connect to the VPN from home?", "--tenant", tenant, **env)
    assert shown.returncode == 0, shown.stderr
    assert "WireGuard" in shown.stdout and "[1] VPN › Connect from home kb/vpn.md" in shown.stdout
    assert "Quoted from the docs · no AI model configured" in shown.stdout

    first = run(
        "ask", "How do I connect to the VPN from home?", "--tenant", tenant, "--json", "--conversation", "c1", **env
    )
    reply = json.loads(first.stdout)
    assert reply["outcome"] == "answered" and reply["sources"][0]["source_uri"] == "kb/vpn.md"
    follow = run("ask", "and which profile do I import?", "--tenant", tenant, "--json", "--conversation", "c1", **env)
    assert json.loads(follow.stdout)["standalone_question"].startswith("How do I connect to the VPN from home?")

    unrelated = run("ask", "Who painted the Mona Lisa?", "--tenant", tenant, "--json", **env)
    assert json.loads(unrelated.stdout)["outcome"] == "abstained"


def test_ask_rejects_an_empty_question(env: dict[str, str]) -> None:
    result = run("ask", "   ", **env)
    assert result.returncode == 2
    assert "the question is empty" in result.stderr
    assert_no_traceback(result)


def test_chat_remembers_forgets_and_quits(env: dict[str, str], tenant: str, tmp_path: Path) -> None:
    docs = write_docs(tmp_path)
    assert run("ingest", str(docs), "--collection", "handbook", "--tenant", tenant, **env).returncode == 0
    session = "When does the canteen serve lunch?\nand on fridays?\n/forget\n/quit\n"
    result = subprocess.run(
        [THREADWISE, "chat", "--tenant", tenant],
        input=session,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env, "AGENT_MIN_SIMILARITY": "0.2", "NO_COLOR": "1", "COLUMNS": "200"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("noon until two") >= 2 and "Forgotten" in result.stdout
    assert_no_traceback(result)


def test_ask_prints_the_whole_answer_wrapped_to_the_terminal(env: dict[str, str], tenant: str, tmp_path: Path) -> None:
    docs = tmp_path / "kb"
    docs.mkdir()
    sentence = (
        "Rotate the signing key every ninety days by running the rotation script on the primary server, "
        "then restart every worker so that each one picks up the new key before the old one expires."
    )
    (docs / "keys.md").write_text(f"# Keys\n\n## Rotation\n\n{sentence}\n")
    assert run("ingest", str(docs), "--collection", "handbook", "--tenant", tenant, **env).returncode == 0

    shown = run("ask", "How do I rotate the signing key?", "--tenant", tenant, **env, COLUMNS="60", NO_COLOR="1")
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 60  # wrapped, not one long line
    # Every word of the quote, in order, across the wrapped lines: nothing cut at the edge or after line one.
    assert " ".join(sentence.split()) in " ".join(shown.stdout.replace("▌", " ").split())
    assert "[1] Keys › Rotation kb/keys.md" in shown.stdout

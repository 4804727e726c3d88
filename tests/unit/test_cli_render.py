"""``threadwise ask`` prints the answer's Markdown with its code blocks whole, and says once that it is an extract."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from agent.schemas import AnswerReply
from bot.cli import ask
from tests.sources import source

LONG = "$ threadwise ingest ./docs --collection handbook --url-base https://docs.example.com/handbook/ --prune"
TEXT = f"Run it:\n\n```bash\n$ pip install x\n\n$ x --serve\n{LONG}\n```\n[1]\n\n- one\n- two [2]"


def printed(reply: AnswerReply, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    shown = io.StringIO()
    monkeypatch.setattr(ask, "out", Console(file=shown, width=80, color_system=None))
    monkeypatch.setattr(ask, "err", Console(file=io.StringIO(), width=80, color_system=None))
    ask.render_reply(reply)
    return [line.strip() for line in shown.getvalue().splitlines()]


def test_code_lines_are_printed_intact_and_long_ones_wrapped(monkeypatch: pytest.MonkeyPatch) -> None:
    reply = AnswerReply(text=TEXT, outcome="answered", extractive=True, sources=[source(1, "docs/install.md")])
    lines = printed(reply, monkeypatch)
    assert "$ pip install x" in lines and "$ x --serve" in lines
    assert lines.index("$ x --serve") - lines.index("$ pip install x") == 2  # the blank line between them kept
    assert "```" not in "\n".join(lines)
    start = next(i for i, line in enumerate(lines) if line.startswith("$ threadwise ingest"))
    assert " ".join(lines[start : start + 3]).replace(" ", "").startswith(LONG.replace(" ", ""))  # wrapped, whole
    assert lines.count("Quoted from the docs · no AI model configured") == 1


def test_a_models_answer_has_no_extract_note(monkeypatch: pytest.MonkeyPatch) -> None:
    reply = AnswerReply(text=TEXT, outcome="answered", model="openai:gpt", sources=[source(1, "docs/install.md")])
    assert not any("Quoted from the docs" in line for line in printed(reply, monkeypatch))

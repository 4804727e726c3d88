from __future__ import annotations

from agent.schemas import AnswerReply
from bot.slack.formatting import MESSAGE_LIMIT, answer_messages, source_line, split_text, to_mrkdwn
from bot.slack.listeners.questions import looks_like_a_question, question_text
from tests.sources import source


def test_markdown_becomes_mrkdwn() -> None:
    assert to_mrkdwn("**Note** see [the guide](https://x.test/g) now") == "*Note* see <https://x.test/g|the guide> now"
    assert to_mrkdwn("## Install\ntext") == "*Install*\ntext"


def test_long_text_is_split_at_paragraphs_then_words_never_mid_word() -> None:
    paragraphs = [f"Paragraph {i} " + "word " * 150 for i in range(12)]
    text = "\n\n".join(p.strip() for p in paragraphs)
    pieces = split_text(text)
    assert len(pieces) > 1 and all(len(p) <= MESSAGE_LIMIT for p in pieces)
    assert all(p.startswith("Paragraph") for p in pieces)  # cut at paragraph boundaries
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())  # nothing lost
    unbroken = "x" * 50 + " " + "y" * 9000
    assert all(len(p) <= MESSAGE_LIMIT for p in split_text(unbroken))


def test_sources_link_only_web_addresses() -> None:
    assert source_line(source(1, "https://docs.test/install")) == "[1] <https://docs.test/install|Guide › Install>"
    assert source_line(source(2, "handbook/install.md")) == "[2] Guide › Install (handbook/install.md)"


def test_the_sources_go_under_the_last_message() -> None:
    reply = AnswerReply(text="word " * 2000, outcome="answered", sources=[source(1, "a.md")])
    messages = answer_messages(reply)
    assert len(messages) == 3
    assert [any(b["type"] == "context" for b in blocks) for _, blocks in messages] == [False, False, True]


def test_mentions_are_removed_and_questions_recognised() -> None:
    assert question_text("<@U123> how do I   deploy? <@U456|bob>") == "how do I deploy?"
    assert looks_like_a_question("How do I deploy")
    assert looks_like_a_question("deploying fails, any idea?")
    assert not looks_like_a_question("thanks, that worked")

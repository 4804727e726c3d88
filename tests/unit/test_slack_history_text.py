"""Slack threads as documents: mrkdwn to Markdown, names instead of user ids, Threadwise's own words left out."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.history_text import headline, mrkdwn_to_markdown, thread_document

BOT = "UBOT0001"


@pytest.mark.parametrize(
    ("mrkdwn", "markdown"),
    [
        ("try *bold*, _italic_ and ~gone~", "try **bold**, *italic* and ~~gone~~"),
        (
            "see <https://x.example/a?b=1|the guide> or <https://y.example>",
            "see [the guide](https://x.example/a?b=1) or <https://y.example>",
        ),
        ("ask <@U0ALICE> or <@U0NOBODY>", "ask @Alice or @someone"),
        ("in <#C0123|general> <!here> <!subteam^S1|@oncall>", "in #general @here @oncall"),
        ("a &lt;div&gt; &amp; [x]", "a \\<div> \\& \\[x\\]"),
        ("`a &lt;b&gt;` stays code", "`a <b>` stays code"),
        ("snake_case_name * 2", "snake_case_name * 2"),
        ("# of users", "\\# of users"),
        ("Steps:\n• one\n• two\nthen done", "Steps:\n\n- one\n- two\n\nthen done"),
        ("run:```make &lt;target&gt;\n  --fast```", "run:\n\n```\nmake <target>\n  --fast\n```"),
    ],
)
def test_mrkdwn_becomes_markdown(mrkdwn: str, markdown: str) -> None:
    assert mrkdwn_to_markdown(mrkdwn, {"U0ALICE": "Alice"}) == markdown


def test_a_headline_is_the_first_line_without_marks_cut_at_a_word() -> None:
    assert headline("How do I **rotate** `keys`?\n\nmore") == "How do I rotate keys?"
    long = headline("word " * 60)
    assert long.endswith("…") and len(long) <= 121 and not long.endswith(" …")


def _message(ts: str, text: str, user: str = "U0BOB", **extra: Any) -> dict[str, Any]:
    return {"ts": ts, "text": text, "user": user, **extra}


def test_a_thread_keeps_peoples_words_and_leaves_out_the_bots_and_notices() -> None:
    messages = [
        _message("1.0", "How do I reset staging?", "U0ALICE", user_profile={"display_name": "Alice"}),
        _message("1.1", "I couldn't find that.", BOT, bot_id="B1"),
        _message("1.2", "", "U0DAVE", subtype="channel_join"),
        _message("1.3", "<@U0ALICE> run `make reset-staging`"),
    ]
    document = thread_document(
        messages,
        url="https://acme.slack.com/archives/C1/p10",
        channel="C1",
        channel_name="ops",
        bot_user=BOT,
        bot_id="B1",
    )
    assert document is not None
    assert document.title == "How do I reset staging?"
    assert document.text == "# How do I reset staging?\n\n@Alice run `make reset-staging`\n"
    assert document.metadata["url"] == document.source_uri == "https://acme.slack.com/archives/C1/p10"
    assert (document.metadata["channel"], document.metadata["thread_ts"], document.metadata["replies"]) == (
        "C1",
        "1.0",
        1,
    )


def test_nothing_is_learnt_when_only_the_bot_answered_or_the_question_is_gone() -> None:
    bot_only = [_message("1.0", "Is the VPN down?"), _message("1.1", "No idea.", BOT)]
    tombstone = [_message("1.0", "This message was deleted.", "USLACKBOT", subtype="tombstone"), _message("1.1", "yes")]
    for messages in (bot_only, tombstone):
        assert thread_document(messages, url="u", channel="C1", channel_name="ops", bot_user=BOT, bot_id=None) is None

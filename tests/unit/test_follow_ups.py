"""Which messages in a thread the bot answered are follow-ups for it."""

from __future__ import annotations

import time

import pytest

from bot.follow_ups import ThreadState, is_thanks, judge_follow_up

ALICE_ASKED = ThreadState(asker="U0ALICE", others_since=0)


@pytest.mark.parametrize(
    "text",
    [
        "thanks!",
        "Thank you so much",
        "thx",
        "got it, that works :+1:",
        "Perfect, thanks 🙏",
        "ok",
        "cheers",
        "will do",
        "🙏",
    ],
)
def test_acknowledgements_are_thanks(text: str) -> None:
    assert is_thanks(text)


@pytest.mark.parametrize(
    "text",
    [
        "thanks, and how do I rotate the key?",
        "ok what about workers",
        "does that work on Windows?",
        "thanks but it fails with error 42",
        "great thanks thanks thanks thanks thanks thanks thanks thanks",  # nine words: more than a thank-you
        "do it",  # a request, in words a thank-you may also have
        "ok do it",
        "yes, do that",
    ],
)
def test_questions_and_long_messages_are_not_thanks(text: str) -> None:
    assert not is_thanks(text)


def test_a_thank_you_is_read_in_linear_time() -> None:
    started = time.perf_counter()
    assert not is_thanks(":" + "a" * 200_000 + " thanks'" * 20_000)
    assert time.perf_counter() - started < 1.0


def test_the_asker_s_follow_up_is_answered() -> None:
    verdict = judge_follow_up(
        "asker", ALICE_ASKED, author="U0ALICE", text="and on Windows?", addresses_someone_else=False
    )
    assert verdict == "answer"


@pytest.mark.parametrize(
    ("mode", "thread", "author", "text", "addressed", "expected"),
    [
        ("asker", ALICE_ASKED, "U0BOB", "me too, how?", False, "aside"),  # a colleague joins in
        ("anyone", ALICE_ASKED, "U0BOB", "me too, how?", False, "answer"),
        ("asker", ALICE_ASKED, "U0ALICE", "can you check this?", True, "aside"),  # said to a colleague
        ("anyone", ALICE_ASKED, "U0BOB", "can you check this?", True, "aside"),
        ("asker", ThreadState("U0ALICE", 1), "U0ALICE", "and on Windows?", False, "ignore"),  # people talk now
        ("asker", ALICE_ASKED, "U0ALICE", "thanks!", False, "ignore"),
        ("asker", ALICE_ASKED, "U0ALICE", "   ", False, "ignore"),  # Discord hides the text without the intent
        ("off", ALICE_ASKED, "U0ALICE", "and on Windows?", False, "ignore"),
        ("asker", None, "U0ALICE", "and on Windows?", False, "ignore"),  # a thread the bot did not answer in
    ],
)
def test_what_the_bot_leaves_alone(
    mode: str, thread: ThreadState | None, author: str, text: str, addressed: bool, expected: str
) -> None:
    assert judge_follow_up(mode, thread, author=author, text=text, addresses_someone_else=addressed) == expected  # type: ignore[arg-type]

"""The 👍/👎 buttons under an answer: Slack's feedback buttons (a ``context_actions`` block), and what a click's value
means. Each button's value names the stored answer (``AnswerReply.message_id``) and the vote, so a click needs no
lookup of the message it came from; ``listeners/actions.py`` stores it like a 👍/👎 reaction.

Both directions live here, side by side: a value is only ever read by the code that wrote it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

FEEDBACK_ACTION = "answer_feedback"
"""The buttons' ``action_id``: what the listener is registered for."""

_VOTES: dict[str, tuple[Literal[1, -1], str]] = {"up": (1, "+1"), "down": (-1, "-1")}
"""A value's vote → its score, and the reaction it is stored as: a click counts as the 👍/👎 of that name (as the
HTTP API's votes do), so a reaction and a click from one person on one answer are one vote."""
_MAX_ANSWER_ID = 2**63 - 1
"""``messages.id`` is a bigint: a larger number names no answer (and PostgreSQL would refuse to compare it)."""


@dataclass(frozen=True, slots=True)
class ButtonVote:
    """A click read from its button's value."""

    answer_id: int
    """The stored answer (``messages.id``) the button was under."""
    score: Literal[1, -1]
    reaction: str


def feedback_block(answer_id: int) -> dict[str, Any]:
    """The 👍/👎 block for the stored answer ``answer_id``, for the message holding the answer's last part.

    Written out as the dict that slack_sdk's models render (``tests/unit/test_feedback_buttons.py`` checks that it
    matches them, limits included, for the largest answer id): built through the models it cost about 0.2 ms of
    the event loop's time per answer (a py-spy profile of ``bench slack``), a third of all the delivery's."""
    return {
        "type": "context_actions",
        "elements": [
            {
                "type": "feedback_buttons",
                "action_id": FEEDBACK_ACTION,
                "positive_button": _button("👍", "This answer helped", f"up:{answer_id}"),
                "negative_button": _button("👎", "This answer did not help", f"down:{answer_id}"),
            }
        ],
    }


def _button(emoji: str, label: str, value: str) -> dict[str, Any]:
    return {
        "text": {"type": "plain_text", "text": emoji, "emoji": True},
        "accessibility_label": label,
        "value": value,
    }


def button_vote(value: object) -> ButtonVote | None:
    """The vote a clicked button's value stands for (``up:<answer id>`` or ``down:<answer id>``); None for anything
    ``feedback_block`` does not write."""
    if not isinstance(value, str):
        return None
    vote, _, answer = value.partition(":")
    if vote not in _VOTES or not (answer.isascii() and answer.isdigit()) or len(answer) > 19:
        return None
    answer_id = int(answer)
    if not 0 < answer_id <= _MAX_ANSWER_ID:
        return None
    score, reaction = _VOTES[vote]
    return ButtonVote(answer_id=answer_id, score=score, reaction=reaction)

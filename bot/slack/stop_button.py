"""The Stop button under an answer while it is being written in an edited message, and what a click's value
means. The value names the question's event and who asked it, so a click needs no lookup to know whether the
person may stop it; ``listeners/actions.py`` records the request and the worker ends the answer at its next update.

Both directions live here, side by side: a value is only ever read by the code that wrote it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from bot.slack.formatting import section_blocks

STOP_ACTION = "stop_answer"
"""The button's ``action_id``: what the listener is registered for."""


@dataclass(frozen=True, slots=True)
class StopRequest:
    """A click read from its button's value."""

    event_id: str
    asker: str


def with_stop_button(text: str, *, event_id: str, asker: str) -> list[dict[str, Any]]:
    """The blocks of a partial answer ``text`` (mrkdwn) with the Stop button under it: the text in sections of at
    most Slack's 3,000 characters each, shown as written (``verbatim``, as the finished answer is). The value is
    built with slack_sdk's models, which check Slack's limits (a value's 2,000 characters)."""
    button = ButtonElement(
        text="Stop",
        action_id=STOP_ACTION,
        value=json.dumps({"event": event_id, "asker": asker}, separators=(",", ":")),
    )
    return [*section_blocks(text), ActionsBlock(elements=[button]).to_dict()]


def stop_request(value: object) -> StopRequest | None:
    """The request a clicked Stop button's value stands for; None for anything ``with_stop_button`` does not
    write."""
    if not isinstance(value, str) or len(value) > 2000:
        return None
    try:
        fields = json.loads(value)
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    event_id, asker = fields.get("event"), fields.get("asker")
    if not (isinstance(event_id, str) and isinstance(asker, str) and event_id and asker):
        return None
    return StopRequest(event_id=event_id, asker=asker)

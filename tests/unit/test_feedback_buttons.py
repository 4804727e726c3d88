"""The 👍/👎 block is written out by hand for speed: it must be exactly what slack_sdk's models render (and so
within the limits they check), for any answer id a button can name."""

from __future__ import annotations

import pytest
from slack_sdk.models.blocks import ContextActionsBlock, FeedbackButtonObject, FeedbackButtonsElement

from bot.slack.feedback_buttons import FEEDBACK_ACTION, button_vote, feedback_block


def rendered_by_slack_sdk(answer_id: int) -> dict[str, object]:
    buttons = FeedbackButtonsElement(
        action_id=FEEDBACK_ACTION,
        positive_button=FeedbackButtonObject(
            text="👍", accessibility_label="This answer helped", value=f"up:{answer_id}"
        ),
        negative_button=FeedbackButtonObject(
            text="👎", accessibility_label="This answer did not help", value=f"down:{answer_id}"
        ),
    )
    block = ContextActionsBlock(elements=[buttons])
    block.validate_json()  # Slack's limits: a value's 2,000 characters, a label's 75
    return block.to_dict()


@pytest.mark.parametrize("answer_id", [1, 42, 2**63 - 1])
def test_the_block_is_what_slack_sdk_renders(answer_id: int) -> None:
    assert feedback_block(answer_id) == rendered_by_slack_sdk(answer_id)


def test_each_button_reads_back_as_its_vote() -> None:
    buttons = feedback_block(7)["elements"][0]
    up = button_vote(buttons["positive_button"]["value"])
    down = button_vote(buttons["negative_button"]["value"])
    assert up is not None and (up.answer_id, up.score, up.reaction) == (7, 1, "+1")
    assert down is not None and (down.answer_id, down.score, down.reaction) == (7, -1, "-1")

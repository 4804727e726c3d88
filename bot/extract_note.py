"""The one line every surface shows under an answer quoted from the docs without a model, so a reader knows the
text is the documentation's own words, not a written answer. One place, so every surface says the same."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this before the agent, which only the commands that answer load
    from agent.schemas import AnswerReply

EXTRACT_NOTE = "Quoted from the docs · no AI model configured"


def extract_note(reply: AnswerReply) -> str | None:
    """The note for an extractive answer; None for a model's answer, an abstention or an error, which say
    what they are already."""
    return EXTRACT_NOTE if reply.extractive and reply.outcome == "answered" else None

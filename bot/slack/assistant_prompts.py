"""What a new thread in Slack's assistant container offers: a greeting naming what the bot searches, and as
suggested prompts the questions asked most in the channel the person is looking at.

Only that channel's questions: the person can read them there already, while questions from other channels or
DMs may be private."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.slack.deps import SlackDeps
from bot.slack.formatting import escape

PROMPTS = 4
"""Slack shows four suggested prompts at most."""
PROMPT_TITLE_CHARS = 60
"""A prompt's title is its question, cut short (the message sent is the whole question)."""
GREETING = "Hi! Ask me about {what}: I answer from the docs, with the sources I used, and say so when they are silent."


@dataclass(frozen=True, slots=True)
class ThreadStart:
    greeting: str
    prompts: list[dict[str, str]] = field(default_factory=list)
    """``{"title", "message"}`` each, as ``assistant.threads.setSuggestedPrompts`` takes them."""
    prompts_title: str = "Asked often in this channel"


async def thread_start(deps: SlackDeps, *, tenant: str, channel: str | None) -> ThreadStart:
    """For a thread opened while looking at ``channel`` (None: from the app's own page)."""
    collections: list[str] | None = None
    asked: list[str] = []
    if channel:
        collections = (await deps.channels.get(tenant=tenant, platform="slack", channel=channel)).collections
        if deps.most_asked is not None:
            asked = await deps.most_asked(tenant=tenant, platform="slack", channel=channel, limit=PROMPTS)
    what = ", ".join(escape(name) for name in collections) if collections else "your team's docs"
    return ThreadStart(greeting=GREETING.format(what=what), prompts=[_prompt(question) for question in asked])


def _prompt(question: str) -> dict[str, str]:
    title = question if len(question) <= PROMPT_TITLE_CHARS else question[: PROMPT_TITLE_CHARS - 1].rstrip() + "…"
    return {"title": title, "message": question}

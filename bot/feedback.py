"""Platform-neutral handling of reactions on the bot's answers (``FeedbackEvent``), for every adapter."""

from __future__ import annotations

from agent.feedback import AnswerRef, FeedbackStore
from bot.events import FeedbackEvent
from core.logging import get_logger
from core.metrics import FEEDBACK_VOTES

log = get_logger(__name__)


async def apply_feedback(store: FeedbackStore, event: FeedbackEvent) -> AnswerRef | None:
    """Record, change or withdraw a vote; after a 👎 the user's next message in the thread becomes its comment.

    Returns the answer voted on, or None when the message reacted to is not one of the bot's answers.
    """
    answer = await store.find_answer(platform=event.platform, tenant=event.tenant, platform_message_id=event.message_id)
    if answer is None:
        return None
    if event.score == 0:
        if await store.withdraw(message_id=answer.message_id, user_id=event.user_id, reaction=event.reaction):
            FEEDBACK_VOTES.labels(platform=event.platform, vote="withdrawn").inc()
        return answer
    await store.vote(message_id=answer.message_id, user_id=event.user_id, score=event.score, reaction=event.reaction)
    FEEDBACK_VOTES.labels(platform=event.platform, vote="up" if event.score > 0 else "down").inc()
    if event.score < 0:
        await store.await_comment(message_id=answer.message_id, user_id=event.user_id)
    log.info("feedback", platform=event.platform, score=event.score, message_id=answer.message_id)
    return answer

"""Platform-neutral handling of reactions on the bot's answers (``FeedbackEvent``), for every adapter."""

from __future__ import annotations

from agent.feedback import AnswerRef, FeedbackStore
from agent.verified import NotVerifiableError, VerifiedAnswers
from bot.events import FeedbackEvent
from core.logging import get_logger
from core.metrics import FEEDBACK_VOTES

log = get_logger(__name__)

VERIFIED_TEXT = "✅ Saved as a verified answer: I'll prefer it for similar questions. (Remove the ✅ to undo.)"
UNVERIFIED_TEXT = "Removed from the verified answers."


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


async def apply_verification(verified: VerifiedAnswers, answer: AnswerRef, event: FeedbackEvent) -> str | None:
    """An admin's ✅ added (save the answer as a verified answer) or removed (``score`` 0: take it back).
    Returns what to tell the thread, or None when nothing changed."""
    if event.score == 0:
        removed = await verified.unverify(answer.message_id, tenant=event.tenant)
        return UNVERIFIED_TEXT if removed else None
    try:
        await verified.verify(answer.message_id, verified_by=f"{event.platform}:{event.user_id}", tenant=event.tenant)
    except NotVerifiableError as error:  # e.g. a ✅ on an "I couldn't find that" reply
        return f"I can't save this as a verified answer: {error}."
    return VERIFIED_TEXT

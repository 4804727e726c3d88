"""Platform-neutral handling of votes on the bot's answers: reactions (``FeedbackEvent``) from every adapter, and
the HTTP API's votes (``record_vote``, shared so both count and withdraw alike)."""

from __future__ import annotations

from agent.feedback import AnswerRef, FeedbackStore
from agent.verified import NotVerifiableError, VerifiedAnswers
from bot.events import FeedbackEvent
from core.keyed_locks import KeyedLocks
from core.logging import get_logger
from core.metrics import FEEDBACK_VOTES

log = get_logger(__name__)

VERIFIED_TEXT = "✅ Saved as a verified answer: I'll prefer it for similar questions. (Remove the ✅ to undo.)"
UNVERIFIED_TEXT = "Removed from the verified answers."

_one_after_another = KeyedLocks()


async def apply_feedback(store: FeedbackStore, event: FeedbackEvent) -> AnswerRef | None:
    """Record, change or withdraw a vote; after a 👎 the user's next message in the thread becomes its comment.

    Returns the answer voted on, or None when the message reacted to is not one of the bot's answers. One user's
    reactions on one message are applied in the order they arrived: 👍 then 👎 in quick succession must leave the
    👎, whichever database write would have finished first.
    """
    async with _one_after_another.hold((event.platform, event.tenant, event.message_id, event.user_id)):
        answer = await store.find_answer(
            platform=event.platform, tenant=event.tenant, platform_message_id=event.message_id
        )
        if answer is None:
            return None
        await record_vote(
            store, answer, platform=event.platform, user_id=event.user_id, score=event.score, reaction=event.reaction
        )
        if event.score < 0:
            await store.await_comment(message_id=answer.message_id, user_id=event.user_id)
    if event.score != 0:
        log.info("feedback", platform=event.platform, score=event.score, message_id=answer.message_id)
    return answer


async def record_vote(
    store: FeedbackStore,
    answer: AnswerRef,
    *,
    platform: str,
    user_id: str,
    score: int,
    reaction: str | None,
    comment: str | None = None,
) -> None:
    """Record or change the user's vote (``score`` ±1), or withdraw it (0: the vote ``reaction`` gave, or
    whichever it was for None), and count it in ``FEEDBACK_VOTES``."""
    if score == 0:
        withdrawn = await store.withdraw(
            message_id=answer.message_id, user_id=user_id, reaction=reaction, trace_id=answer.trace_id
        )
        if withdrawn:
            FEEDBACK_VOTES.labels(platform=platform, vote="withdrawn").inc()
        return
    if reaction is None:
        raise ValueError("a vote is stored with the reaction it came from")
    await store.vote(
        message_id=answer.message_id,
        user_id=user_id,
        score=score,
        reaction=reaction,
        comment=comment,
        trace_id=answer.trace_id,
    )
    FEEDBACK_VOTES.labels(platform=platform, vote="up" if score > 0 else "down").inc()


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

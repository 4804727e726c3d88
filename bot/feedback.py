"""Platform-neutral handling of votes on the bot's answers: reactions (``FeedbackEvent``) from every adapter, the
comment a 👎 asks for, and the HTTP API's votes (``record_vote``, shared so both count and withdraw alike). Each is
one unit of work, opened here; Langfuse hears of a vote once it has committed."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from agent.feedback import AnswerRef, FeedbackStore, VoteChange
from agent.schemas import ConversationKey
from agent.verified import NotVerifiableError, VerifiedAnswers
from bot.events import FeedbackEvent
from core.db import session_scope
from core.keyed_locks import KeyedLocks
from core.logging import get_logger
from core.metrics import FEEDBACK_VOTES

log = get_logger(__name__)

VERIFIED_TEXT = "✅ Saved as a verified answer: I'll prefer it for similar questions. (Remove the ✅ to undo.)"
UNVERIFIED_TEXT = "Removed from the verified answers."

_one_after_another = KeyedLocks()

_VOTE_LABELS = {1: "up", -1: "down", 0: "withdrawn"}
"""``FEEDBACK_VOTES``' label for a vote's score (0: taken back)."""


async def apply_feedback(
    store: FeedbackStore, event: FeedbackEvent, *, answer_id: int | None = None
) -> AnswerRef | None:
    """Record, change or withdraw a vote; after a 👎 the user's next message in the thread becomes its comment.

    The answer voted on is the one posted as ``event.message_id`` (a reaction), or ``answer_id`` when the vote
    names its stored answer (a feedback button under it); either way only one given on ``event.platform`` to
    ``event.tenant`` counts. Returns it, or None when there is no such answer. One unit of work: the vote and the
    wait for its comment are stored together or not at all. One user's votes on one message are applied in the
    order they arrived: 👍 then 👎 in quick succession must leave the 👎, whichever database write would have
    finished first (and in Langfuse too).
    """
    async with _one_after_another.hold((event.platform, event.tenant, event.message_id, event.user_id)):
        async with session_scope(store.sessionmaker) as session:
            if answer_id is None:
                answer = await store.find_answer(
                    session, platform=event.platform, tenant=event.tenant, platform_message_id=event.message_id
                )
            else:
                answer = await store.answer(session, message_id=answer_id, platform=event.platform, tenant=event.tenant)
            if answer is None:
                return None
            change = await record_vote(
                session, store, answer, user_id=event.user_id, score=event.score, reaction=event.reaction
            )
            if event.score < 0:
                await store.await_comment(session, message_id=answer.message_id, user_id=event.user_id)
        await vote_committed(store, change, platform=event.platform)
    if event.score != 0:
        log.info("feedback", platform=event.platform, score=event.score, message_id=answer.message_id)
    return answer


async def record_vote(
    session: AsyncSession,
    store: FeedbackStore,
    answer: AnswerRef,
    *,
    user_id: str,
    score: int,
    reaction: str | None,
    comment: str | None = None,
) -> VoteChange | None:
    """Record or change the user's vote (``score`` ±1), or withdraw it (0: the vote ``reaction`` gave, or
    whichever it was for None), in the caller's unit of work. Returns the change to hand to ``vote_committed``
    once that commits; None when there was no vote to withdraw."""
    if score == 0:
        return await store.withdraw(
            session, message_id=answer.message_id, user_id=user_id, reaction=reaction, trace_id=answer.trace_id
        )
    if reaction is None:
        raise ValueError("a vote is stored with the reaction it came from")
    return await store.vote(
        session,
        message_id=answer.message_id,
        user_id=user_id,
        score=score,
        reaction=reaction,
        comment=comment,
        trace_id=answer.trace_id,
    )


async def vote_committed(store: FeedbackStore, change: VoteChange | None, *, platform: str) -> None:
    """A vote changed (``record_vote``) and its unit of work committed: count it in ``FEEDBACK_VOTES`` and tell
    Langfuse. Nothing for None (no vote was withdrawn)."""
    if change is None:
        return
    FEEDBACK_VOTES.labels(platform=platform, vote=_VOTE_LABELS[change.score]).inc()
    await store.publish(change)


async def take_comment(store: FeedbackStore, key: ConversationKey, *, user_id: str, comment: str) -> bool:
    """After a 👎 the bot asked what was missing: the user's next message in that conversation (``comment``) is
    the answer. False when no vote of theirs there awaits a comment."""
    async with session_scope(store.sessionmaker) as session:
        feedback_id = await store.comment_awaited(session, key, user_id=user_id)
        if feedback_id is None:
            return False
        change = await store.add_comment(session, feedback_id, comment)
    await store.publish(change)
    return True


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

"""Tracing to Langfuse (when ``LANGFUSE_PUBLIC_KEY`` and ``LANGFUSE_SECRET_KEY`` are set): one trace per answer,
grouped by conversation as a session, and each user's 👍/👎 as a score on that trace.

An answer's Langfuse trace id follows from our own trace id (the one stored with the message), so a vote can score
its answer later without storing anything more. Unset, nothing is built and nothing leaves the process; set, no
Langfuse failure may break an answer or a vote (it is logged and dropped).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from typing import TYPE_CHECKING, Any

from core import __version__
from core.logging import get_logger
from core.settings import LangfuseSettings

if TYPE_CHECKING:  # the SDK is imported only when Langfuse is on (it takes most of a second)
    from langchain_core.runnables import RunnableConfig
    from langfuse import Langfuse
    from opentelemetry.sdk.trace import TracerProvider

log = get_logger(__name__)

SCORE_NAME = "user-feedback"
TRACE_NAME = "answer"
DELETE_TIMEOUT = 5.0
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


def langfuse_trace_id(trace_id: str) -> str:
    """The Langfuse trace id of our ``trace_id``: itself when it is already one (32 lowercase hex digits, as
    ours are), otherwise one derived from it (as ``Langfuse.create_trace_id(seed=trace_id)`` derives it)."""
    if _TRACE_ID.fullmatch(trace_id) and trace_id.strip("0"):
        return trace_id
    return hashlib.sha256(trace_id.encode()).digest()[:16].hex()


def score_id(trace_id: str, user_id: str) -> str:
    """One score per user and answer: sending it again (a changed vote, a comment) updates it in Langfuse."""
    return hashlib.sha256(f"{SCORE_NAME}:{trace_id}:{user_id}".encode()).hexdigest()[:32]


class LangfuseTracing:
    """The Langfuse client of this process, or nothing at all (every method is then a no-op)."""

    def __init__(self, client: Langfuse | None = None, *, public_key: str = "", provider: TracerProvider | None = None):
        self.client = client
        self.public_key = public_key
        self.provider = provider

    @classmethod
    def from_settings(cls, settings: LangfuseSettings, *, environment: str | None = None) -> LangfuseTracing:
        if settings.public_key is None or settings.secret_key is None:
            return cls()
        from langfuse import Langfuse
        from opentelemetry.sdk.trace import TracerProvider

        public_key = settings.public_key.get_secret_value()
        # A provider of our own: Langfuse would otherwise install itself as the process's global OpenTelemetry
        # provider, and a second client (tests, reloads) would add a second exporter to it.
        provider = TracerProvider()
        client = Langfuse(
            public_key=public_key,
            secret_key=settings.secret_key.get_secret_value(),
            base_url=str(settings.host).rstrip("/") if settings.host is not None else None,
            environment=environment,
            release=f"threadwise@{__version__}",
            tracer_provider=provider,
        )
        log.info("langfuse tracing on", host=str(settings.host or "Langfuse Cloud"))
        return cls(client, public_key=public_key, provider=provider)

    @property
    def enabled(self) -> bool:
        return self.client is not None

    def run_config(self, *, trace_id: str, session_id: str, user_id: str | None = None) -> RunnableConfig | None:
        """What to add to a LangGraph run's config so it becomes the trace ``trace_id`` in session ``session_id``
        (None when Langfuse is off)."""
        if self.client is None:
            return None
        from langfuse.langchain import CallbackHandler

        try:
            handler = CallbackHandler(
                public_key=self.public_key, trace_context={"trace_id": langfuse_trace_id(trace_id)}
            )
        except Exception as error:
            log.warning("langfuse trace not started", exc_info=error)
            return None
        metadata: dict[str, Any] = {"langfuse_session_id": session_id, "langfuse_trace_name": TRACE_NAME}
        if user_id:
            metadata["langfuse_user_id"] = user_id
        return {"callbacks": [handler], "metadata": metadata}

    def score(self, *, trace_id: str, user_id: str, value: int, comment: str | None = None) -> None:
        """Send (or update) the user's vote on the answer traced as ``trace_id``; queued, sent in the background."""
        if self.client is None:
            return
        try:
            self.client.create_score(
                name=SCORE_NAME,
                value=float(value),
                data_type="NUMERIC",
                trace_id=langfuse_trace_id(trace_id),
                score_id=score_id(trace_id, user_id),
                comment=comment,
            )
        except Exception as error:
            log.warning("langfuse score not sent", trace_id=trace_id, exc_info=error)

    async def delete_score(self, *, trace_id: str, user_id: str) -> None:
        """The user took their vote back: its score goes too."""
        if self.client is None:
            return
        client = self.client

        async def delete() -> None:
            # The score may still be queued here: send it first, or the delete would arrive before it.
            await asyncio.to_thread(client.flush)
            await client.async_api.scores.delete(score_id(trace_id, user_id))

        try:
            await asyncio.wait_for(delete(), DELETE_TIMEOUT)  # a vote waits for Langfuse this long at most
        except Exception as error:  # e.g. the score never arrived: nothing to take back
            log.warning("langfuse score not deleted", trace_id=trace_id, exc_info=error)

    def shutdown(self) -> None:
        """Send what is queued and stop the client's background threads (blocks)."""
        if self.client is None:
            return
        from langfuse._client.resource_manager import LangfuseResourceManager

        try:
            self.client.shutdown()
            if self.provider is not None:
                self.provider.shutdown()
            # The SDK keeps one client per public key for the whole process, even shut down; forget it so a
            # later one (another app in the same process, as in tests) starts afresh instead of dropping data.
            with LangfuseResourceManager._lock:
                LangfuseResourceManager._instances.pop(self.public_key, None)
        except Exception as error:
            log.warning("langfuse shutdown failed", exc_info=error)

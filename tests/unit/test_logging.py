from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from core.logging import bind_context, clear_context, configure_logging, get_logger


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def json_stream() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream, secrets=["registered-secret-123"])
    yield stream
    clear_context()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_lines_carry_context_variables(json_stream: io.StringIO) -> None:
    bind_context(request_id="req-1", platform="slack", channel="C123")
    get_logger("test").info("answered", outcome="answered")
    (line,) = lines(json_stream)
    assert line["event"] == "answered"
    assert (line["request_id"], line["platform"], line["channel"]) == ("req-1", "slack", "C123")
    assert line["level"] == "info"
    assert "timestamp" in line


def test_stdlib_loggers_go_through_the_same_chain(json_stream: io.StringIO) -> None:
    bind_context(request_id="req-2")
    logging.getLogger("uvicorn.error").warning("library says %s", "hello")
    (line,) = lines(json_stream)
    assert line == line | {"event": "library says hello", "logger": "uvicorn.error", "request_id": "req-2"}


def test_secrets_are_never_rendered(json_stream: io.StringIO) -> None:
    log = get_logger("test")
    log.info("with key", token="xoxb-0000-1111-abcdefgh", api_key="sk-live")
    log.info("registered registered-secret-123 in text")
    log.info("unregistered slack token xoxb-9999-8888-zzzzzzzzzz seen")
    log.info("url", target="postgresql://bot:hunter2@db:5432/threadwise")
    log.info("header", headers={"Authorization": "Bearer abcdefghijklmnopqrstuvwxyz"})
    output = json_stream.getvalue()
    for secret in ("xoxb-0000", "sk-live", "registered-secret-123", "xoxb-9999", "hunter2", "abcdefghijklmnop"):
        assert secret not in output
    rendered = lines(json_stream)
    assert rendered[0]["token"] == "***"
    assert rendered[3]["target"] == "postgresql://bot:***@db:5432/threadwise"


def test_token_counts_are_logged_but_a_tokens_key_holding_text_is_masked(json_stream: io.StringIO) -> None:
    get_logger("test").info("answer", prompt_tokens=812, completion_tokens=0, bot_tokens="xoxb-secret-value")
    (line,) = lines(json_stream)
    assert line["prompt_tokens"] == 812 and line["completion_tokens"] == 0
    assert line["bot_tokens"] == "***"


def test_secrets_inside_tracebacks_are_masked(json_stream: io.StringIO) -> None:
    try:
        raise RuntimeError("login failed for registered-secret-123")
    except RuntimeError:
        get_logger("test").exception("boom")
    (line,) = lines(json_stream)
    assert "RuntimeError" in str(line["exception"])
    assert "registered-secret-123" not in json_stream.getvalue()


def _fetch(url: str) -> None:
    raise ConnectionError(f"fetch failed for {url} with registered-secret-123: " + "detail " * 400 + "END")


def _load_page(url: str) -> None:
    _fetch(url)


def test_a_logged_exception_carries_its_traceback(json_stream: io.StringIO) -> None:
    # As the app's call sites do: the exception itself as exc_info, at warning level, inside the except block.
    try:
        _load_page("https://docs.example.com/start")
    except ConnectionError as error:
        get_logger("test").warning("page not loaded", exc_info=error)
    (line,) = lines(json_stream)
    assert line["event"] == "page not loaded" and line["level"] == "warning"
    assert "exc_info" not in line and "error" not in line
    traceback = str(line["exception"])
    assert traceback.startswith("Traceback (most recent call last):")
    # Every frame down to the raise, then the error itself: longer than an ordinary value, it is not cut.
    assert "in _load_page" in traceback and "in _fetch" in traceback
    assert "ConnectionError: fetch failed for https://docs.example.com/start with ***" in traceback
    assert traceback.rstrip().endswith("END")
    assert "registered-secret-123" not in json_stream.getvalue()


def test_console_rendering_in_a_terminal() -> None:
    stream = Terminal()
    configure_logging(log_format="auto", stream=stream, secrets=["registered-secret-123"])
    get_logger("test").info("hello console", token="registered-secret-123")
    output = stream.getvalue()
    assert "hello console" in output
    assert not output.lstrip().startswith("{")
    assert "registered-secret-123" not in output


def test_auto_is_json_when_not_a_terminal() -> None:
    stream = io.StringIO()
    configure_logging(log_format="auto", stream=stream)
    get_logger("test").info("piped")
    assert json.loads(stream.getvalue())["event"] == "piped"


def test_level_filters_lines() -> None:
    stream = io.StringIO()
    configure_logging(log_format="json", level="WARNING", stream=stream)
    get_logger("test").info("hidden")
    get_logger("test").warning("shown")
    assert [line["event"] for line in lines(stream)] == ["shown"]


def test_secrets_inside_tracebacks_are_masked_on_a_terminal_too() -> None:
    stream = Terminal()
    configure_logging(log_format="console", stream=stream, secrets=["registered-secret-123"])
    try:
        raise RuntimeError("login failed for registered-secret-123 at postgresql://bot:hunter2-pass@db/x")
    except RuntimeError:
        get_logger("test").exception("boom")
    output = stream.getvalue()
    assert "RuntimeError: login failed for ***" in output
    assert "registered-secret-123" not in output and "hunter2-pass" not in output

"""Masking secrets in log lines: linear in the length of the text whatever it holds, every value capped before
it is scanned, and no secret or URL password left in the output whatever text surrounds it."""

from __future__ import annotations

import io
import logging
import time

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from core.logging import MASK, MAX_VALUE_CHARS, SecretMasker, configure_logging, get_logger, mask_url_passwords
from tests.linear_time import assert_linear

KNOWN = "registered-Secret-0123456789"
masker = SecretMasker([KNOWN])

# Units that, repeated, make backtracking patterns for these shapes go quadratic.
ADVERSARIAL_UNITS = ["a", "a://", "a://b:", "://:", "xoxb-", "xoxb-a", "bot ", "bearer\t", "sk-", "input_value=", "@:"]


@settings(max_examples=len(ADVERSARIAL_UNITS) * 2, deadline=None, suppress_health_check=list(HealthCheck))
@given(unit=st.sampled_from(ADVERSARIAL_UNITS), tail=st.sampled_from(["", "!", "@", " "]))
def test_masking_cost_grows_linearly(unit: str, tail: str) -> None:
    # Uncapped: the scan itself must be linear. A backtracking pattern takes seconds at these sizes.
    assert_linear(lambda n: masker.mask_text(text := unit * n + tail, limit=len(text)), 5_000 // len(unit))


def test_a_long_value_is_capped_before_it_is_masked() -> None:
    started = time.perf_counter()
    masked = masker.mask_text("a" * 1_000_000 + " postgresql://bot:hunter2@db")
    assert time.perf_counter() - started < 0.5
    assert len(masked) < MAX_VALUE_CHARS + 40 and masked.endswith("chars cut]")
    assert masked.startswith("a" * 1000) and "hunter2" not in masked


def test_a_cut_through_a_secret_drops_it_whole() -> None:
    text = "x" * (MAX_VALUE_CHARS - 10) + " " + KNOWN + " tail"
    masked = masker.mask_text(text)
    assert "registered" not in masked and masked.endswith(f"…[{len(text) - MAX_VALUE_CHARS + 9} chars cut]")


def test_url_passwords_are_masked_as_before() -> None:
    assert mask_url_passwords("postgresql://bot:hunter2@db:5432/x") == f"postgresql://bot:{MASK}@db:5432/x"
    assert mask_url_passwords("a http://u@h https://h/p x://:p@h") == f"a http://u@h https://h/p x://:{MASK}@h"
    assert mask_url_passwords("redis://:pw@h and amqp://u:p2@h") == f"redis://:{MASK}@h and amqp://u:{MASK}@h"


secret_chars = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789", min_size=12, max_size=40)


@settings(max_examples=300, deadline=None)
@given(before=st.text(max_size=3000), after=st.text(max_size=300), password=secret_chars, token=secret_chars)
def test_no_secret_survives_whatever_surrounds_it(before: str, after: str, password: str, token: str) -> None:
    assume(not any(s in before + after for s in (password, token)))
    slack_token = f"xoxb-{token}"
    for secret, leaked in (
        (KNOWN, KNOWN),
        (f"postgresql://threadwise:{password}@db:5432/threadwise", password),
        (f" {slack_token}", token),  # the pattern needs a word boundary before "xoxb-"
        (f" Bearer {token}{token}", token),
    ):
        masked = masker.mask_text(before + secret + after)
        assert leaked not in masked, (secret, masked)


PRIVATE = "what is the salary of U0SECRET?"


class Question(BaseModel):
    count: int


def test_validation_errors_are_logged_without_the_input() -> None:
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream)
    try:
        Question.model_validate({"count": PRIVATE})  # a variable: the traceback quotes this line
    except ValidationError as error:
        get_logger("tests").error("invalid", error=str(error))
        get_logger("tests").exception("invalid")
    output = stream.getvalue()
    assert "int_parsing" in output and "input_type=str" in output
    assert "salary" not in output and "U0SECRET" not in output


def test_bolt_never_logs_a_request_body() -> None:
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream)
    logging.getLogger("slack_bolt.AsyncRequestVerification").info(
        "Invalid request signature detected (signature: v0=1, timestamp: 1, body: {'text': 'salary of U0SECRET'})"
    )
    output = stream.getvalue()
    assert "Invalid request signature detected" in output
    assert "salary" not in output and "U0SECRET" not in output


def test_query_strings_in_access_lines_are_capped() -> None:
    stream = io.StringIO()
    configure_logging(log_format="json", stream=stream)
    started = time.perf_counter()
    path = "/healthz?q=" + "a" * 1_000_000
    logging.getLogger("uvicorn.access").info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", path, "1.1", 200)
    assert time.perf_counter() - started < 0.5
    assert len(stream.getvalue()) < 3 * MAX_VALUE_CHARS

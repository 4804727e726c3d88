"""What an unauthenticated sender can do to ``POST /slack/events``: nothing. Forged, malformed and oversized
requests get a 4xx with a problem+json body, reach no listener, post nothing to Slack and log nothing they
sent; genuine form-encoded requests keep working. Also: SQL errors are logged without their parameters."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from core.logging import configure_logging, get_logger
from tests.fakes.slack_api import SIGNING_SECRET, FakeSlack, sign
from tests.integration.helpers.slack import mention, slack, slack_app, team

__all__ = ["slack", "team"]  # fixtures used below

QUESTION = "what is the salary band of the payroll cluster admins?"
USER = "U0SECRETUSER"


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """Every log line of the test as the deployed process writes it (stdlib loggers included, e.g. Bolt's)."""
    stream = io.StringIO()
    configure_logging(log_format="json", level="INFO", stream=stream)
    yield stream
    configure_logging(log_format="json", level="INFO")


def forged_mention(team: str) -> str:
    return json.dumps(mention(team, QUESTION, user=USER))


def sign_bytes(raw: bytes, content_type: str) -> dict[str, str]:
    """Slack's signature over exactly these bytes (``sign`` takes text)."""
    stamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:".encode() + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": f"v0={digest}", "Content-Type": content_type}


async def refused(client: httpx.AsyncClient, body: str | bytes, headers: Mapping[str, str | bytes]) -> httpx.Response:
    raw = [(name.encode(), value if isinstance(value, bytes) else value.encode()) for name, value in headers.items()]
    response = await client.post("/slack/events", content=body, headers=raw)
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["status"] == response.status_code and problem["detail"]
    return response


async def nothing_reached_slack(slack: FakeSlack) -> None:
    await asyncio.sleep(0.8)  # long enough for a listener, the worker or the error handler to have posted
    assert slack.calls_to("chat.postMessage") == [] and slack.calls_to("reactions.add") == []


@pytest.mark.parametrize(
    "forged",
    [
        {"X-Slack-Request-Timestamp": "not-a-number"},
        {"X-Slack-Request-Timestamp": "1700000000²".encode("latin-1")},  # str.isdigit() says yes, int() no
        {"X-Slack-Request-Timestamp": "9" * 500},
        {"X-Slack-Request-Timestamp": ""},
        {"X-Slack-Signature": "v0=é".encode("latin-1")},
    ],
    ids=["not-a-number", "superscript-digit", "huge", "empty", "non-ascii-signature"],
)
async def test_a_forged_timestamp_or_signature_is_refused_and_nothing_is_posted(
    database_url_text: str, slack: FakeSlack, team: str, forged: dict[str, str | bytes]
) -> None:
    body = forged_mention(team)
    async with slack_app(database_url_text, slack) as client:
        response = await refused(client, body, sign(body) | forged)
        await nothing_reached_slack(slack)
    assert response.status_code == 401


DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("[1, 2, 3]", "application/json"),
        ('"just a string"', "application/json"),
        (DEEP, "application/json"),
        ('{"deep": ' + DEEP + "}", "application/json"),
        ("payload=" + DEEP, "application/x-www-form-urlencoded"),
        ("payload=%5B1%5D", "application/x-www-form-urlencoded"),
        (b"\xff\xfe not utf-8", "application/json"),
    ],
    ids=["array", "string", "deep", "deep-in-object", "deep-payload", "payload-array", "not-utf8"],
)
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
async def test_bad_bodies_are_a_4xx_never_a_500(
    database_url_text: str, slack: FakeSlack, body: str | bytes, content_type: str, signed: bool
) -> None:
    raw = body.encode() if isinstance(body, str) else body
    headers = sign_bytes(raw, content_type) if signed else {"Content-Type": content_type}
    async with slack_app(database_url_text, slack) as client:
        response = await refused(client, raw, headers)
        await nothing_reached_slack(slack)
    assert response.status_code == (400 if signed else 401)


async def test_an_oversized_body_is_a_413_signed_or_not(database_url_text: str, slack: FakeSlack) -> None:
    body = json.dumps({"type": "event_callback", "padding": "x" * (1024 * 1024)})
    async with slack_app(database_url_text, slack) as client:
        unsigned = await refused(client, body, {"Content-Type": "application/json"})
        signed = await refused(client, body, sign(body))

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the cap is enforced while reading
            for _ in range(11):
                yield b"x" * (1024 * 1024)

        streamed = await client.post("/slack/events", content=chunks(), headers={"Content-Type": "application/json"})
    assert (unsigned.status_code, signed.status_code, streamed.status_code) == (413, 413, 413)


async def test_signed_forms_still_reach_bolt(database_url_text: str, slack: FakeSlack, team: str) -> None:
    command = urlencode(
        {"command": "/threadwise", "text": "help", "team_id": team, "channel_id": "C1", "user_id": "U1"}
    )
    clicked = {"action_id": "unknown", "block_id": "b1", "type": "button", "value": "v"}
    payload = {"type": "block_actions", "team": {"id": team}, "user": {"id": "U1"}, "actions": [clicked]}
    action = urlencode({"payload": json.dumps(payload)})
    form = "application/x-www-form-urlencoded"
    async with slack_app(database_url_text, slack) as client:
        helped = await client.post("/slack/events", content=command, headers=sign(command, content_type=form))
        acted = await client.post("/slack/events", content=action, headers=sign(action, content_type=form))
    assert helped.status_code == 200 and "/threadwise ask" in helped.text
    assert acted.status_code == 404  # Bolt's "unhandled request": it read the payload


async def test_an_unverifiable_request_leaves_no_body_in_the_logs(
    database_url_text: str, slack: FakeSlack, team: str, log_stream: io.StringIO
) -> None:
    body = forged_mention(team)
    async with slack_app(database_url_text, slack) as client:
        for headers in (sign(body, secret="not-our-secret"), {"Content-Type": "application/json"}):
            await refused(client, body, headers)
    output = log_stream.getvalue()
    assert "threadwise web ready" in output  # the stream did capture the app's lines
    for leaked in ("salary band", "payroll", USER):
        assert leaked not in output, leaked


async def test_sql_errors_are_logged_without_their_parameters(engine: AsyncEngine, log_stream: io.StringIO) -> None:
    with pytest.raises(DBAPIError) as raised:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT CAST(:who AS text), 1 / 0"), {"who": USER})
    get_logger("tests").error("query failed", error=str(raised.value))
    logging.getLogger("sqlalchemy").error("query failed: %s", raised.value)
    output = log_stream.getvalue()
    assert "1 / 0" in output and "division by zero" in output
    assert USER not in output

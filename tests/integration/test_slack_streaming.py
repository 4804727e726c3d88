"""Slack's native streaming. End to end: signed mentions to the running app (real slack-bolt), the durable queue and
worker, the agent on a real PostgreSQL with a scripted model that writes its answer in pieces, and slack_sdk against
the fake Slack Web API's ``chat.startStream``, ``chat.appendStream`` and ``chat.stopStream``; a worker process killed
in the middle of a stream. Then the deliverer alone, for what a crash, Slack's ending a stream, a rewritten answer
or a 429 on ``chat.startStream`` leave."""

from __future__ import annotations

import asyncio
import re
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.engine import URL

from agent.schemas import AnswerReply
from bot.events import ChatEvent
from bot.queue import JobQueue
from bot.slack.deliverer import SlackDeliverer
from bot.slack.formatting import to_mrkdwn
from knowledge.service import KnowledgeBase
from tests.conftest import database_settings_for_tests
from tests.fakes.openai_server import Reply, ScriptedLLM, scripted_llm
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, TEAM_ID, Call, FakeSlack
from tests.integration.helpers.queue import question, until
from tests.integration.helpers.slack import is_whole_answer, mention, post_event, slack, slack_app, team
from tests.integration.helpers.stored import stored_answer_for
from tests.integration.test_worker_process import alive_and, worker_process
from tests.sources import source

__all__ = ["slack", "team"]  # fixtures used below

QUESTION = "how do I rotate the signing key?"
PAYLOAD = "<!channel> <@U123> [sso.example.com](https://evil.example)"
ANSWER = "Open the admin console, choose Security, and press Rotate [1]. Old tokens stop working after one hour [1]."
WRITTEN_SLOWLY = Reply(ANSWER, pause=0.1)  # 18 pieces over about 2 s: the worker shows it every 0.2 s
STREAM_METHODS = ("chat.startStream", "chat.appendStream", "chat.stopStream")


def model(llm: ScriptedLLM) -> dict[str, Any]:
    return {"model": "openai:primary", "base_url": llm.base_url, "retry_attempts": 1}


def answer_in(slack: FakeSlack, channel: str, thread_ts: str) -> dict[str, Any] | None:
    """The thread's message once it holds a whole answer (sources under it, no stream open), else None."""
    done = [m for m in slack.thread(channel, thread_ts) if is_whole_answer(m)]
    return done[0] if done else None


async def answered(slack: FakeSlack, envelope: dict[str, Any]) -> dict[str, Any]:
    channel, thread_ts = envelope["event"]["channel"], envelope["event"]["ts"]
    await until(lambda: answer_in(slack, channel, thread_ts) is not None, "the answer", 30)
    await asyncio.sleep(0.5)  # a second message, or a late edit, would show up now
    (shown,) = slack.thread(channel, thread_ts)
    return shown


def calls_in(slack: FakeSlack, method: str, *envelopes: dict[str, Any]) -> list[Call]:
    """``method``'s calls for the questions of ``envelopes`` (a job another test left in the shared queue may be
    answered into this test's fake too)."""
    threads = {envelope["event"]["ts"] for envelope in envelopes}
    ours = {
        message["ts"]
        for envelope in envelopes
        for message in slack.thread(envelope["event"]["channel"], envelope["event"]["ts"])
    }
    return [
        call for call in slack.calls_to(method) if call.args.get("thread_ts") in threads or call.args.get("ts") in ours
    ]


def sources_under(message: dict[str, Any]) -> str:
    return "\n".join(block["elements"][0]["text"] for block in message["blocks"] if block["type"] == "context")


async def test_an_answer_streams_into_one_message_that_ends_as_the_answer_through_429s(
    database_url_text: str, slack: FakeSlack, team: str, kb: KnowledgeBase
) -> None:
    slack.fail("chat.appendStream", status=429, retry_after=0, times=2, after=1)
    envelope = mention(team, QUESTION)
    with scripted_llm(default=WRITTEN_SLOWLY) as llm:
        async with slack_app(database_url_text, slack, llm=model(llm)) as client:
            await post_event(client, envelope)
            shown = await answered(slack, envelope)
            stored = await stored_answer_for(kb, shown["ts"])  # votes on the streamed message count
    assert shown["text"] == ANSWER and "Rotate the signing key" in sources_under(shown)
    assert stored.content.startswith("Open the admin console")
    (start,) = calls_in(slack, "chat.startStream", envelope)
    assert start.response["ts"] == shown["ts"] and start.args["thread_ts"] == envelope["event"]["ts"]
    assert (start.args["recipient_team_id"], start.args["recipient_user_id"]) == (team, "U0ALICE")
    appends = calls_in(slack, "chat.appendStream", envelope)
    limited = [i for i, call in enumerate(appends) if call.response.get("error") == "ratelimited"]
    assert len(limited) == 2 and len(appends) >= 4
    # Each 429 was waited out and the same piece sent again: nothing lost, nothing twice (the text says so too).
    assert all(appends[i + 1].args["markdown_text"] == appends[i].args["markdown_text"] for i in limited)
    assert calls_in(slack, "chat.postMessage", envelope) == calls_in(slack, "chat.update", envelope) == []
    # A call per update at most, and the worker updates every 0.2 s here: what Slack took fits the answer's time.
    (stop,) = calls_in(slack, "chat.stopStream", envelope)
    taken = [start, *(call for call in appends if call.response.get("ok")), stop]
    assert len(taken) <= (stop.at - start.at) / 0.2 + 2


async def test_a_documents_control_sequences_stream_inert(
    database_url_text: str, slack: FakeSlack, kb: KnowledgeBase, tmp_path: Path
) -> None:
    team = f"T{uuid.uuid4().hex[:10].upper()}"
    (tmp_path / "guide.txt").write_text(f"Press Rotate. {PAYLOAD} Old tokens stop working after one hour.")
    await kb.ingest([str(tmp_path / "guide.txt")], tenant=team, collection="guide")
    words = f"Press Rotate [1]. {PAYLOAD} `{PAYLOAD}` " + "More detail follows here. " * 4
    envelope = mention(team, QUESTION)
    with scripted_llm(default=Reply(words, pause=0.05)) as llm:
        async with slack_app(database_url_text, slack, llm=model(llm)) as client:
            await post_event(client, envelope)
            shown = await answered(slack, envelope)
    streamed = [
        call.args.get("markdown_text") or "" for method in STREAM_METHODS for call in calls_in(slack, method, envelope)
    ]
    assert len(streamed) >= 3 and "".join(streamed) == shown["text"]
    assert "&lt;!channel> &lt;@U123> sso.example.com (https://evil.example)" in shown["text"]
    assert "`<\u200b!channel> <\u200b@U123> [sso.example.com](https://evil.example)`" in shown["text"]  # code
    assert not any(re.search(r"<[!@#]|<https://evil", text) for text in streamed)


@pytest.mark.parametrize(
    ("refusal", "next_channel", "streams_there"),
    [
        ("not_allowed_token_type", "C0GENERAL", False),
        ("unknown_method", "C0RANDOM", False),  # the workspace's: not tried in its other channels either
        ("channel_type_not_supported", "C0RANDOM", True),  # the channel's: other channels still stream
    ],
)
async def test_a_refused_stream_falls_back_to_edits_and_is_not_asked_again_where_it_was_refused(
    database_url_text: str, slack: FakeSlack, team: str, refusal: str, next_channel: str, streams_there: bool
) -> None:
    slack.fail("chat.startStream", error=refusal)
    first, second = mention(team, QUESTION), mention(team, QUESTION, channel=next_channel)
    with scripted_llm(default=WRITTEN_SLOWLY) as llm:
        async with slack_app(database_url_text, slack, llm=model(llm)) as client:
            await post_event(client, first)
            refused = await answered(slack, first)
            await post_event(client, second)
            then = await answered(slack, second)
    assert refused["text"] == to_mrkdwn(ANSWER) and "Rotate the signing key" in sources_under(refused)
    assert next(call.response["ts"] for call in calls_in(slack, "chat.postMessage", first)) == refused["ts"]
    assert "Rotate the signing key" in sources_under(then)
    assert len(calls_in(slack, "chat.startStream", first, second)) == (2 if streams_there else 1)
    assert ("streaming" in then) == streams_there  # only a streamed message has a streaming state
    assert len(calls_in(slack, "chat.postMessage", first, second)) == (1 if streams_there else 2)


async def test_with_native_streaming_off_answers_are_edited_into_a_placeholder(
    database_url_text: str, slack: FakeSlack, team: str
) -> None:
    settings = {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET, "api_url": slack.api_url}
    envelope = mention(team, QUESTION)
    with scripted_llm(default=WRITTEN_SLOWLY) as llm:
        async with slack_app(
            database_url_text, slack, llm=model(llm), slack=settings | {"native_streaming": False}
        ) as client:
            await post_event(client, envelope)
            shown = await answered(slack, envelope)
    assert shown["text"] == to_mrkdwn(ANSWER) and "Rotate the signing key" in sources_under(shown)
    assert all(calls_in(slack, method, envelope) == [] for method in STREAM_METHODS)
    assert (
        len(calls_in(slack, "chat.postMessage", envelope)) == 1 and len(calls_in(slack, "chat.update", envelope)) >= 2
    )


@pytest.mark.slow  # starts and kills `threadwise serve --role worker` processes
async def test_a_worker_killed_in_the_middle_of_a_stream_leaves_one_message_edited_to_the_end(
    database_url: URL, database_url_text: str, slack: FakeSlack, team: str, tmp_path: Path
) -> None:
    thread_ts = "1700000000.000300"
    event = question(team, text=QUESTION, delivery={"thread_ts": thread_ts, "team_id": team})
    async with await JobQueue.connect(database_url, role="tests", database=database_settings_for_tests()) as queue:
        assert await queue.enqueue(event)
        log = tmp_path / "workers.log"
        every_piece = {"QUEUE_UPDATE_INTERVAL": "0"}  # each piece of the answer is shown as it comes
        with scripted_llm() as llm:
            # The first worker's answer comes a word every few seconds: it dies with its stream open.
            llm.script(Reply("Open the admin console", pause=3.0), Reply(ANSWER))
            with worker_process(database_url_text, slack, llm, log, **every_piece) as doomed:
                started = alive_and(doomed, log, lambda: slack.calls_to("chat.startStream") != [])
                await until(started, "a stream", 60)
                await until(lambda: slack.calls_to("chat.startStream")[0].response.get("ts") is not None, "its ts")
                for _ in range(100):  # the worker stores the stream's ts right after starting it
                    if (await queue.progress(event)).placeholder_id is not None:
                        break
                    await asyncio.sleep(0.05)
                doomed.send_signal(signal.SIGKILL)
                doomed.wait(timeout=10)
            (left,) = slack.thread(event.channel, thread_ts)
            assert left["streaming"] and left["text"].startswith("Open")

            with worker_process(database_url_text, slack, llm, log, **every_piece) as restarted:
                done = alive_and(restarted, log, lambda: answer_in(slack, event.channel, thread_ts) is not None)
                await until(done, "the answer", 60)
                await asyncio.sleep(1.0)  # a second message would show up now
                shown = slack.thread(event.channel, thread_ts)
        assert [message["ts"] for message in shown] == [left["ts"]]  # the crashed run's, stopped and edited
        assert shown[0]["text"] == to_mrkdwn(ANSWER) and not shown[0]["streaming"] and shown[0]["blocks"]
        assert len(slack.calls_to("chat.startStream")) == 1 and slack.calls_to("chat.postMessage") == []
        assert (await queue.progress(event)).delivered


# --- the deliverer alone ----------------------------------------------------------------------------------------

CHANNEL, THREAD = "C0ENG", "1700000000.000100"
REPLY = AnswerReply(text=ANSWER, outcome="answered", sources=[source(1, "https://docs.test/rotate")])


def deliverer(slack: FakeSlack) -> SlackDeliverer:
    return SlackDeliverer(AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url))


def event(event_id: str = "Ev0STREAM", *, thread: str | None = THREAD) -> ChatEvent:
    delivery = {"team_id": TEAM_ID} | ({"thread_ts": thread} if thread else {})
    return ChatEvent(
        platform="slack",
        event_id=event_id,
        tenant=TEAM_ID,
        channel=CHANNEL,
        thread=thread or "",
        user_id="U0ALICE",
        message_id=thread or "1700000000.000200",
        text=QUESTION,
        delivery=delivery,
    )


async def test_a_job_resumed_after_a_crash_stops_the_stream_it_left_and_edits_it_to_the_end(slack: FakeSlack) -> None:
    crashed = deliverer(slack)
    left = await crashed.update(event(), "Open the admin")  # the worker stores this ts; then the process dies
    assert left is not None and slack.messages[left]["streaming"] and slack.messages[left]["text"] == "Open the admin"

    resumed = deliverer(slack)
    resumed.resume(event(), left)
    assert await resumed.update(event(), "Open the admin console") is None  # nothing new to store
    assert not slack.messages[left]["streaming"]  # stopped before the edit
    assert await resumed.deliver(event(), REPLY) == left

    (shown,) = slack.thread(CHANNEL, THREAD)
    assert shown["ts"] == left and shown["text"] == to_mrkdwn(ANSWER) and "docs.test/rotate" in sources_under(shown)
    assert len(slack.calls_to("chat.startStream")) == 1 and slack.calls_to("chat.postMessage") == []


async def test_a_delivery_resumed_after_a_crash_stops_the_stream_and_edits_the_answer_into_it(slack: FakeSlack) -> None:
    left = await deliverer(slack).update(event(), "Open the admin")
    assert left is not None

    resumed = deliverer(slack)
    resumed.resume(event(), left)  # the reply was kept: the retaken job only delivers it
    assert await resumed.deliver(event(), REPLY) == left

    (shown,) = slack.thread(CHANNEL, THREAD)
    assert shown["text"] == to_mrkdwn(ANSWER) and not shown["streaming"] and shown["blocks"]


async def test_a_stream_slack_ended_before_the_answer_is_edited_to_the_end(slack: FakeSlack) -> None:
    writer = deliverer(slack)
    ts = await writer.update(event(), "Open the admin")
    assert ts is not None
    slack.expire_stream(ts)  # Slack closes streams after some minutes

    assert not writer.offers_stop(event())  # a stream shows no buttons: the worker reads no Stop mark for it
    assert await writer.update(event(), "Open the admin console") is None
    assert slack.messages[ts]["text"] == "Open the admin console …"  # the placeholder path took over
    assert writer.offers_stop(event())  # the edited message has the Stop button
    assert await writer.deliver(event(), REPLY) == ts

    (shown,) = slack.thread(CHANNEL, THREAD)
    assert shown["text"] == to_mrkdwn(ANSWER) and shown["blocks"]


async def test_an_answer_that_does_not_continue_the_streamed_text_replaces_it(slack: FakeSlack) -> None:
    writer = deliverer(slack)
    ts = await writer.update(event(), "Press Rotate [3] on the")  # the model's numbering, renumbered at the end
    rewritten = AnswerReply(text="Press Rotate [1] on the Security page.", outcome="answered", sources=REPLY.sources)
    assert await writer.deliver(event(), rewritten) == ts

    (stop,) = slack.calls_to("chat.stopStream")
    assert "markdown_text" not in stop.args  # stopped as it was, then edited
    (shown,) = slack.thread(CHANNEL, THREAD)
    assert shown["text"] == "Press Rotate [1] on the Security page." and "docs.test/rotate" in sources_under(shown)


async def test_a_streamed_answer_shows_control_sequences_and_disguised_links_inert(slack: FakeSlack) -> None:
    writer = deliverer(slack)
    partial = "Press Rotate <!channel> <@U123> [sso.example.com](https://evil.example) `<!here>` and"
    ts = await writer.update(event(), partial)
    assert ts is not None
    text = slack.messages[ts]["text"]
    assert "&lt;!channel> &lt;@U123> sso.example.com (https://evil.example) `<\u200b!here>`" in text
    assert not re.search(r"<[!@#]|\]\(https://evil", text)


async def test_an_answer_outside_a_thread_is_edited_as_before(slack: FakeSlack) -> None:
    writer = deliverer(slack)
    posted = await writer.update(event(thread=None), "Open the admin")
    assert await writer.deliver(event(thread=None), REPLY) == posted
    assert all(slack.calls_to(method) == [] for method in STREAM_METHODS)


async def test_a_rate_limited_stream_start_is_not_waited_out_and_the_workspace_is_left_alone_meanwhile(
    slack: FakeSlack,
) -> None:
    slack.fail("chat.startStream", status=429, retry_after=30)
    now = [1000.0]
    client = AsyncWebClient(
        token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=3)]
    )
    writer = SlackDeliverer(client, clock=lambda: now[0])

    posted = await asyncio.wait_for(writer.update(event("Ev1"), "Open the admin"), timeout=5)  # not 30 s
    assert posted is not None and slack.messages[posted]["text"] == "Open the admin …"
    assert await writer.update(event("Ev2"), "Open the admin") is not None  # within Retry-After: not asked
    assert len(slack.calls_to("chat.startStream")) == 1

    now[0] += 31
    started = await writer.update(event("Ev3"), "Open the admin")
    assert started is not None and slack.messages[started].get("streaming")
    assert len(slack.calls_to("chat.startStream")) == 2

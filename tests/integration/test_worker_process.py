"""A worker process killed in the middle of an answer: real `threadwise serve --role worker` processes, a real
PostgreSQL, the fake Slack Web API and a scripted OpenAI-compatible model on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.engine import URL

from bot.queue import JobQueue, dedupe_key
from tests.conftest import database_settings_for_tests
from tests.fakes.openai_server import Delay, Reply, ScriptedLLM, scripted_llm
from tests.fakes.slack_api import BOT_TOKEN, SIGNING_SECRET, FakeSlack
from tests.integration.helpers.cli import THREADWISE, free_port
from tests.integration.helpers.queue import question, until
from tests.integration.helpers.slack import is_whole_answer, slack, team

__all__ = ["slack", "team"]  # fixtures used below

pytestmark = pytest.mark.slow  # each test starts and kills `threadwise serve --role worker` processes


@contextmanager
def worker_process(
    database_url: str, slack: FakeSlack, llm: ScriptedLLM, log: Path, **more_env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`threadwise serve --role worker`; stopped with SIGTERM on the way out unless the test killed it."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "LLM_MODEL": "openai:primary",
        "LLM_BASE_URL": llm.base_url,
        "LLM_API_KEY": "sk-test-not-a-real-key",
        "LLM_RETRY_ATTEMPTS": "1",
        "AGENT_MIN_SIMILARITY": "0.25",
        "QUEUE_STALLED_AFTER_SECONDS": "1",
        "LOG_FORMAT": "json",
        **more_env,
    }
    with log.open("ab") as out:
        process = subprocess.Popen(
            [THREADWISE, "serve", "--role", "worker", "--port", str(free_port())], env=env, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)


def alive_and(process: subprocess.Popen[bytes], log: Path, condition: Callable[[], bool]) -> Callable[[], bool]:
    """``condition``, failing at once (with the workers' log) if the worker process has exited."""

    def check() -> bool:
        assert process.poll() is None, f"the worker exited ({process.returncode}):\n{log.read_text()[-3000:]}"
        return condition()

    return check


async def test_a_worker_process_killed_mid_answer_is_answered_once_after_a_restart(
    database_url: URL, database_url_text: str, slack: FakeSlack, team: str, tmp_path: Path
) -> None:
    event = question(team, text="how do I rotate the signing key?", delivery={"thread_ts": "1700000000.000100"})
    async with await JobQueue.connect(database_url, role="tests", database=database_settings_for_tests()) as queue:
        assert await queue.enqueue(event)
        log = tmp_path / "workers.log"
        with scripted_llm() as llm:
            # The first worker's model call never returns: the worker is in the middle of the answer when it dies.
            llm.script(Delay(600, then=Reply("never sent")), Reply("Open the admin console and press Rotate [1]."))
            with worker_process(database_url_text, slack, llm, log) as doomed:
                await until(alive_and(doomed, log, lambda: len(llm.chat_requests) == 1), "the first model call", 60)
                doomed.send_signal(signal.SIGKILL)
                doomed.wait(timeout=10)
            assert slack.calls_to("chat.postMessage") == []

            thread = (event.channel, "1700000000.000100")
            with worker_process(database_url_text, slack, llm, log) as restarted:
                # On a slow machine the answer is posted as its first words and then edited to the end.
                await until(
                    alive_and(restarted, log, lambda: any(map(is_whole_answer, slack.thread(*thread)))),
                    "the answer",
                    60,
                )
                await asyncio.sleep(1.0)  # a second post would show up now
                (posted,) = [call.args for call in slack.calls_to("chat.postMessage")]
                (shown,) = slack.thread(*thread)

        assert doomed.returncode == -signal.SIGKILL
        assert posted["channel"] == event.channel and posted["thread_ts"] == "1700000000.000100"
        assert "press Rotate" in shown["text"]
        assert len(llm.chat_requests) == 2  # asked again: the first run died before it had a reply to keep
        runs = await queue.pool.fetchval(
            "SELECT runs FROM processed_events WHERE platform = $1 AND event_id = $2", event.platform, event.event_id
        )
        assert runs == 2
        assert await queue.pool.fetchval("SELECT count(*) FROM pgqueuer WHERE dedupe_key = $1", dedupe_key(event)) == 0


async def test_a_worker_killed_while_showing_part_of_the_answer_leaves_one_message_edited_to_the_end(
    database_url: URL, database_url_text: str, slack: FakeSlack, team: str, tmp_path: Path
) -> None:
    thread_ts = "1700000000.000200"
    event = question(team, text="how do I rotate the signing key?", delivery={"thread_ts": thread_ts})
    async with await JobQueue.connect(database_url, role="tests", database=database_settings_for_tests()) as queue:
        assert await queue.enqueue(event)
        log = tmp_path / "workers.log"
        every_piece = {"QUEUE_UPDATE_INTERVAL": "0"}  # each piece of the answer is shown as it comes
        with scripted_llm() as llm:
            # The first worker's answer comes a word every few seconds: it dies with part of it on show.
            llm.script(
                Reply("Open the admin console", pause=3.0), Reply("Open the admin console and press Rotate [1].")
            )
            with worker_process(database_url_text, slack, llm, log, **every_piece) as doomed:
                await until(
                    alive_and(doomed, log, lambda: slack.calls_to("chat.postMessage") != []), "a partial answer", 60
                )
                for _ in range(100):  # the worker stores the placeholder right after posting it
                    if (await queue.progress(event)).placeholder_id is not None:
                        break
                    await asyncio.sleep(0.05)
                doomed.send_signal(signal.SIGKILL)
                doomed.wait(timeout=10)
            (partial,) = slack.thread(event.channel, thread_ts)
            assert partial["text"].endswith(" …")

            with worker_process(database_url_text, slack, llm, log, **every_piece) as restarted:
                await until(
                    alive_and(
                        restarted, log, lambda: any(map(is_whole_answer, slack.thread(event.channel, thread_ts)))
                    ),
                    "the answer",
                    60,
                )
                await asyncio.sleep(1.0)  # a second message would show up now
                shown = slack.thread(event.channel, thread_ts)

        assert doomed.returncode == -signal.SIGKILL
        # One message in the thread: the crashed run's placeholder, edited into the whole answer with its sources.
        assert [message["ts"] for message in shown] == [partial["ts"]]
        assert "press Rotate" in shown[0]["text"] and not shown[0]["text"].endswith(" …")
        assert len(slack.calls_to("chat.postMessage")) == 1
        assert len(llm.chat_requests) == 2
        assert (await queue.progress(event)).delivered

"""Stand-ins for what lies outside the machine, for ``threadwise bench``: Slack's Web API (records the answers the
bot posts) and an OpenAI-compatible model that answers instantly. Never used in production.

They run in a process of their own (``python -m bot.bench.stand_ins``), on aiohttp: in the benchmark's own
process they would share its interpreter lock with the client that times the acks, and a thread per connection
with a listen backlog of 5 (``http.server``) drops connections when the bot opens many at once, which then wait
seconds for TCP to retry. Either would be measured as the bot's slowness.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.bench import BenchmarkError, stop_process
from evals.toolkit.stand_in_llm import completion, completion_chunks, pieces, reply_to, request_texts, usage

INSTANT_ANSWER = "Press Rotate on the Security page of the admin console [1]."


class SlackRecord:
    """What the bot did on the stand-in Slack: its final answers, by the thread they went to, and its calls."""

    def __init__(self) -> None:
        self.finals: list[str] = []
        """The thread of every final answer (a message with blocks: the answer and its sources), in order."""
        self.calls: Counter[str] = Counter()
        """Calls by method: whether the answers were streamed (``chat.startStream``) or edited (``chat.update``)."""
        self._thread_of: dict[str, str] = {}  # ts of each message posted → its thread
        self._ts = itertools.count(1)

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls[method] += 1
        if method == "auth.test":
            return {"ok": True, "user_id": "UBENCHBOT", "bot_id": "BBENCH", "team_id": "TBENCH"}
        if method in ("chat.postMessage", "chat.startStream"):
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            self._thread_of[ts] = str(args.get("thread_ts", ""))
            if args.get("blocks"):
                self.finals.append(self._thread_of[ts])
            return {"ok": True, "channel": args.get("channel"), "ts": ts}
        if method in ("chat.update", "chat.appendStream", "chat.stopStream"):
            ts = str(args.get("ts", ""))
            # A stream's stop carries the blocks under the answer; a stop without them is followed by an edit.
            if args.get("blocks"):
                self.finals.append(self._thread_of.get(ts, ""))
            return {"ok": True, "channel": args.get("channel"), "ts": ts}
        return {"ok": True}


def _slack_routes(record: SlackRecord) -> list[web.RouteDef]:
    async def api(request: web.Request) -> web.Response:
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args |= await request.json()
        else:
            args |= dict(await request.post())
        return web.json_response(record.answer(request.match_info["method"], args))

    async def finals(request: web.Request) -> web.Response:
        # ?after=N: only the ones after the first N, so polling while answers arrive stays cheap for long runs
        return web.json_response(record.finals[int(request.query.get("after", 0)) :])

    async def calls(request: web.Request) -> web.Response:
        return web.json_response(dict(record.calls))

    return [
        web.post("/api/{method}", api),
        web.get("/api/{method}", api),
        web.get("/bench/finals", finals),
        web.get("/bench/calls", calls),
    ]


async def _completion(request: web.Request) -> web.StreamResponse:
    body = await request.json()
    system, last = request_texts(body)
    text = reply_to(system, last, answer=INSTANT_ANSWER)
    counted = usage(100, len(text.split()))
    if not body.get("stream"):
        return web.json_response(completion(text, body, counted))
    events = "".join(f"data: {json.dumps(event)}\n\n" for event in completion_chunks(pieces(text), body, counted))
    return web.Response(text=events + "data: [DONE]\n\n", content_type="text/event-stream")


async def _serve_until_stopped() -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    slack = web.Application()
    slack.add_routes(_slack_routes(SlackRecord()))
    llm = web.Application()
    llm.add_routes([web.post("/v1/chat/completions", _completion)])
    urls: dict[str, str] = {}
    runners = []
    for name, app in (("slack", slack), ("llm", llm)):
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = runner.addresses[0][1]
        urls[name] = f"http://127.0.0.1:{port}"
        runners.append(runner)
    print(json.dumps(urls), flush=True)  # the parent reads the addresses from this one line
    try:
        await stopped.wait()
    finally:
        for runner in runners:
            await runner.cleanup()


@dataclass(frozen=True)
class StandIns:
    slack_base: str
    llm_base: str

    @property
    def slack_api_url(self) -> str:
        return f"{self.slack_base}/api/"

    @property
    def slack_finals_url(self) -> str:
        return f"{self.slack_base}/bench/finals"

    @property
    def slack_calls_url(self) -> str:
        return f"{self.slack_base}/bench/calls"

    @property
    def llm_url(self) -> str:
        return f"{self.llm_base}/v1"


@contextmanager
def stand_ins() -> Iterator[StandIns]:
    """Start the stand-ins' process; stopped when the block ends."""
    command = [sys.executable, "-m", "bot.bench.stand_ins"]
    # Our own module with fixed arguments; started once per benchmark, so a blocking spawn is fine here.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    try:
        line = process.stdout.readline() if process.stdout else ""
        if not line:
            raise BenchmarkError(f"the benchmark's stand-ins exited with {process.wait()} before they were ready")
        urls = json.loads(line)
        yield StandIns(slack_base=urls["slack"], llm_base=urls["llm"])
    finally:
        stop_process(process, within=10)


if __name__ == "__main__":
    asyncio.run(_serve_until_stopped())

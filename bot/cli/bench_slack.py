"""``threadwise bench slack``: the Slack pipeline under load (see bot/bench/slack.py)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.app import bench_app, cli_settings, database_url, knowledge_base, out, run_async
from bot.cli.progress import stage_progress


@bench_app.command("slack")
def bench_slack_command(
    events: Annotated[int, typer.Option(min=1, max=100_000, help="Signed @mentions to send.")] = 500,
    concurrency: Annotated[int, typer.Option(min=1, max=1000, help="Requests in flight at once.")] = 50,
    workers: Annotated[int, typer.Option(min=1, max=100, help="QUEUE_CONCURRENCY for the server.")] = 12,
    server_log: Annotated[
        Path | None, typer.Option(help="Write the server's log (JSON lines, INFO and up) to this file.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Start `threadwise serve` against stand-ins for Slack and an instant LLM on 127.0.0.1, send signed
    mentions, and print ack latency, answers per second, lost and duplicated answers, and peak memory.

    A warm-up of CONCURRENCY mentions goes first and is answered before the measured ones are sent; its
    latency is printed on its own line."""
    from bot.bench.slack import bench_slack

    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)

    async def go() -> None:
        async with knowledge_base(settings, url, role="bench") as kb:
            with stage_progress() as report:
                result = await bench_slack(
                    kb,
                    events=events,
                    concurrency=concurrency,
                    workers=workers,
                    progress=report,
                    server_log=server_log,
                    database=settings.database,
                )
        if as_json:
            print(json.dumps(asdict(result)))
            return
        warm_up = result.warm_up_ack_ms
        out.print(
            f"{result.events} mentions, {result.concurrency} in flight: ack p50 {result.ack_ms['p50']:.1f} ms, "
            f"p99 {result.ack_ms['p99']:.1f} ms; {result.answers_per_second:.1f} answers/s "
            f"({result.answered} answered in {result.seconds:.1f} s); not accepted {result.failed_acks}, "
            f"lost {result.lost}, duplicated {result.duplicated}; server peak RSS {result.server_peak_rss_mb:.0f} MB\n"
            f"warm-up (the first {result.concurrency} mentions at once, just after start): ack p50 "
            f"{warm_up['p50']:.1f} ms, max {warm_up['max']:.1f} ms\n"
            f"Slack calls: {', '.join(f'{method} {count}' for method, count in result.slack_calls.items())}"
        )

    run_async(go())

"""``threadwise bench cluster``: replicas of Threadwise through faults (see bot/bench/cluster.py)."""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from bot.cli.app import bench_app, cli_settings, database_url, err, knowledge_base, out, run_async
from bot.cli.progress import stage_progress


def _run_command(command: str) -> None:
    # The operator's own command, given on the command line to restart their server.
    subprocess.run(shlex.split(command), check=True, timeout=120)  # noqa: S603


@bench_app.command("cluster")
def bench_cluster_command(
    web: Annotated[int, typer.Option(min=2, max=8, help="Web replicas (Slack events).")] = 2,
    workers: Annotated[int, typer.Option(min=2, max=8, help="Worker replicas (answers).")] = 3,
    pgbouncer: Annotated[
        bool, typer.Option("--pgbouncer", help="Put PgBouncer (installed here) in transaction mode in front.")
    ] = False,
    events: Annotated[int, typer.Option(min=8, max=100_000, help="Signed @mentions to send.")] = 300,
    rate: Annotated[float, typer.Option(min=0.5, max=1000, help="Mentions a second.")] = 10.0,
    restart_command: Annotated[
        str | None,
        typer.Option(help="How to restart the PostgreSQL of DATABASE_URL (fast shutdown); not for the embedded one."),
    ] = None,
    log_dir: Annotated[Path | None, typer.Option(help="Write each replica's log (JSON lines) in this folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Start WEB web and WORKERS worker replicas of `threadwise serve` here (Slack and the LLM stood in for on
    127.0.0.1), send signed mentions through every web replica at RATE a second, kill one worker and one web replica
    with SIGKILL and restart PostgreSQL mid-run, and print what the stand-in Slack saw: answered, lost and
    duplicated answers, ack latency, and the time from the last fault to the last answer."""
    from bot.bench.cluster import bench_cluster
    from core.embedded_postgres import restart_embedded_postgres

    settings = cli_settings(log_level="WARNING")
    if settings.database.pooled_per_transaction:
        err.print(
            "bench cluster puts its own PgBouncer in front (--pgbouncer): point DATABASE_URL at PostgreSQL itself "
            "and unset DATABASE_POOL_MODE."
        )
        raise typer.Exit(2)
    restart: Callable[[], None]
    if settings.database.url is None:
        restart = partial(restart_embedded_postgres, settings.app.data_dir)
    elif restart_command:
        restart = partial(_run_command, restart_command)
    else:
        err.print(
            "bench cluster restarts PostgreSQL mid-run: unset DATABASE_URL to use the embedded server, or say how "
            "with --restart-command (e.g. 'pg_ctlcluster 15 main restart -m fast')."
        )
        raise typer.Exit(2)
    url = database_url(settings)

    async def go() -> None:
        async with knowledge_base(settings, url, role="bench") as kb:
            with stage_progress() as report:
                result = await bench_cluster(
                    kb,
                    server_url=url,
                    restart_postgres=restart,
                    events=events,
                    rate=rate,
                    web=web,
                    workers=workers,
                    use_pgbouncer=pgbouncer,
                    progress=report,
                    log_dir=log_dir,
                )
        if as_json:
            print(json.dumps(asdict(result)))
            return
        through = "through PgBouncer (transaction mode)" if result.pgbouncer else "on PostgreSQL directly"
        out.print(
            f"{result.web} web and {result.workers} worker replicas {through}; {result.events} mentions at "
            f"{rate:g}/s\n"
            f"faults: {'; '.join(result.faults)}\n"
            f"accepted {result.accepted} (retried {result.retried}, never accepted {result.not_accepted}); "
            f"answered {result.answered}, lost {result.lost}, duplicated {result.duplicated}\n"
            f"ack p50 {result.ack_ms['p50']:.1f} ms, p99 {result.ack_ms['p99']:.1f} ms; the last answer came "
            f"{result.seconds_from_last_fault_to_last_answer:.1f} s after the last fault "
            f"({result.seconds:.1f} s from the first mention)"
        )
        if result.lost_event_ids:
            out.print(f"lost: {', '.join(result.lost_event_ids)}")

    run_async(go())

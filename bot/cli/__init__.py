"""The ``threadwise`` command line. Each module registers its commands on the shared Typer app."""

from __future__ import annotations

import gc

from bot.cli.startup import collect_less_while_starting

collect_less_while_starting()  # before the commands' modules are imported

from bot.cli import (  # noqa: E402
    ask,
    bench,
    bench_cluster,
    bench_slack,
    database,
    doctor,
    evaluate,
    keys,
    knowledge,
    report,
    serve,
    sources,
    sources_confluence,
    sources_discord,
    sources_github,
    sources_notion,
    sources_slack,
)
from bot.cli.app import app  # noqa: E402

__all__ = [
    "app",
    "ask",
    "bench",
    "bench_cluster",
    "bench_slack",
    "database",
    "doctor",
    "evaluate",
    "keys",
    "knowledge",
    "main",
    "report",
    "serve",
    "sources",
    "sources_confluence",
    "sources_discord",
    "sources_github",
    "sources_notion",
    "sources_slack",
]


def main() -> None:
    try:
        app()
    finally:
        # At exit the interpreter's last collections walk every object the imports made (~0.4 s for `ask`);
        # frozen objects are skipped, and the process is ending anyway.
        gc.freeze()

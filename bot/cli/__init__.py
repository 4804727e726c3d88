"""The ``threadwise`` command line. Each module registers its commands on the shared Typer app."""

from __future__ import annotations

from bot.cli import ask, bench, bench_slack, database, doctor, evaluate, keys, knowledge, report, serve
from bot.cli.app import app

__all__ = [
    "app",
    "ask",
    "bench",
    "bench_slack",
    "database",
    "doctor",
    "evaluate",
    "keys",
    "knowledge",
    "main",
    "report",
    "serve",
]


def main() -> None:
    app()

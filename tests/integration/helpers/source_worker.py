"""A worker process's scheduled syncs, built as ``threadwise serve --role worker`` builds them (the configuration
from the environment, ``build_sources``, ``SourceSchedule``) but ticking every second, so that tests see several
intervals in seconds: ``python -m tests.integration.helpers.source_worker [--grace SECONDS]``.

Runs until SIGTERM, then stops the schedule as the web app's lifespan does (a run under way gets ``--grace``
seconds). Logs as JSON to stderr; "source schedule started" says it takes ticks.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from bot.services import build_knowledge_base, build_sources
from bot.source_schedule import SourceSchedule
from core.db import create_engine, resolve_database_url
from core.logging import configure_logging
from core.settings import load_settings

EVERY_SECOND = "* * * * * *"


async def serve(grace: float) -> None:
    settings = load_settings()
    configure_logging(level="INFO", log_format="json", secrets=settings.secret_values())
    url = resolve_database_url(settings)
    engine = create_engine(url, role="worker", database=settings.database)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    try:
        sources = build_sources(settings, build_knowledge_base(settings, engine))
        schedule = SourceSchedule(sources, url, database=settings.database, expression=EVERY_SECOND)
        schedule.start()
        await stop.wait()
        await schedule.stop(grace)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--grace", type=float, default=10.0)
    asyncio.run(serve(parser.parse_args().grace))

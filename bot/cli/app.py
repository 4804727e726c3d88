"""The ``threadwise`` Typer application and what every command shares: consoles, settings, the database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from sqlalchemy.engine import URL

from core.settings import ConfigurationError, Settings, load_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from agent.service import AgentService
    from knowledge.service import KnowledgeBase

T = TypeVar("T")

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Threadwise: your team's docs, answered in chat.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema migrations.")
collections_app = typer.Typer(no_args_is_help=True, help="Knowledge-base collections.")
eval_app = typer.Typer(no_args_is_help=True, help="Measure answer and retrieval quality on public data sets.")
bench_app = typer.Typer(no_args_is_help=True, help="Measure speed.")
sources_app = typer.Typer(no_args_is_help=True, help="Places a collection is kept in step with (a website…).")
sources_add_app = typer.Typer(no_args_is_help=True, help="Add a source; its first sync runs now unless --no-sync.")
sources_app.add_typer(sources_add_app, name="add")
app.add_typer(db_app, name="db")
app.add_typer(collections_app, name="collections")
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")
app.add_typer(sources_app, name="sources")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DEFAULT_TENANT = "local"


def fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


def print_configuration_problems(error: ConfigurationError) -> None:
    err.print("[bold red]Threadwise cannot start: the configuration is invalid[/]")
    for problem in error.problems:
        err.print(f"  • {problem}", highlight=False)
    err.print("See .env.example or docs/configuration.md.")


def cli_settings(*, log_level: str | None = None) -> Settings:
    """Load the configuration and logging, or stop with one line per configuration problem."""
    from core.logging import configure_logging

    try:
        settings = load_settings()
    except ConfigurationError as error:
        print_configuration_problems(error)
        raise typer.Exit(1) from None
    configure_logging(
        level=log_level or settings.log.level, log_format=settings.log.format, secrets=settings.secret_values()
    )
    return settings


def database_url(settings: Settings) -> URL:
    """The database URL, starting the embedded server (with a spinner) when none is configured."""
    from core.db import resolve_database_url
    from core.embedded_postgres import EmbeddedPostgresError

    try:
        if settings.database.url is None:
            with err.status("Starting the embedded PostgreSQL…"):
                return resolve_database_url(settings)
        return resolve_database_url(settings)
    except EmbeddedPostgresError as error:
        fail(str(error))


@asynccontextmanager
async def migrated_engine(settings: Settings, url: URL, *, role: str = "cli") -> AsyncIterator[AsyncEngine]:
    """An engine on a migrated database (``DatabaseNotMigratedError`` otherwise); disposed on exit."""
    from core.db import create_engine
    from core.schema import ensure_migrated

    engine = create_engine(url, role=role, database=settings.database)
    try:
        await ensure_migrated(engine)
        yield engine
    finally:
        await engine.dispose()


@asynccontextmanager
async def knowledge_base(settings: Settings, url: URL, *, role: str = "cli") -> AsyncIterator[KnowledgeBase]:
    """A ``KnowledgeBase`` on a migrated database, with the configured embedder; disposed on exit."""
    from bot.services import build_knowledge_base

    async with migrated_engine(settings, url, role=role) as engine:
        yield build_knowledge_base(settings, engine)


@asynccontextmanager
async def agent_service(settings: Settings, url: URL, *, role: str = "cli") -> AsyncIterator[AgentService]:
    """An ``AgentService`` with the configured LLM (or extractive answers when there is none)."""
    from bot.services import build_services

    async with migrated_engine(settings, url, role=role) as engine:
        services = build_services(settings, engine, warm_embedder=True)
        try:
            yield services.agent
        finally:
            await services.aclose()  # sends the traces still queued before the command exits


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn the failures a user can act on into one line and exit code 1; anything else is a bug and raises."""
    from bot.bench import BenchmarkError
    from core.health import describe_connection_error
    from core.schema import DatabaseNotMigratedError
    from knowledge.embeddings.base import EmbeddingError
    from knowledge.errors import KnowledgeError

    try:
        yield
    except (KnowledgeError, DatabaseNotMigratedError, EmbeddingError, BenchmarkError) as error:
        fail(str(error))
    except (OSError, TimeoutError) as error:
        fail(describe_connection_error(error))


def run_async(coroutine: Coroutine[Any, Any, T]) -> T:
    with friendly_errors():
        return asyncio.run(coroutine)

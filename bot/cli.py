"""The ``threadwise`` command line."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from core.settings import ConfigurationError, Settings, load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Threadwise: your team's docs, answered in chat.")
db_app = typer.Typer(no_args_is_help=True, help="Database schema migrations.")
app.add_typer(db_app, name="db")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


def _settings() -> Settings:
    """Load the configuration and logging, or stop with one line per configuration problem."""
    from core.logging import configure_logging

    try:
        settings = load_settings()
    except ConfigurationError as error:
        err.print("[bold red]Threadwise cannot start: the configuration is invalid[/]")
        for problem in error.problems:
            err.print(f"  • {problem}", highlight=False)
        err.print("See .env.example or docs/configuration.md.")
        raise typer.Exit(1) from None
    configure_logging(level=settings.log.level, log_format=settings.log.format, secrets=settings.secret_values())
    return settings


def _database_url(settings: Settings):  # type: ignore[no-untyped-def]
    from core.db import resolve_database_url
    from core.embedded_postgres import EmbeddedPostgresError

    try:
        if settings.database.url is None:
            with err.status("Starting the embedded PostgreSQL…"):
                return resolve_database_url(settings)
        return resolve_database_url(settings)
    except EmbeddedPostgresError as error:
        _fail(str(error))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default WEB_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default WEB_PORT).")] = None,
) -> None:
    """Serve the web app (Slack events, API, playground, health probes)."""
    import uvicorn

    from bot.web.app import create_app
    from core.db import create_engine
    from core.health import describe_connection_error
    from core.schema import DatabaseNotMigratedError, ensure_migrated

    settings = _settings()
    url = _database_url(settings)

    async def preflight() -> None:
        engine = create_engine(url, role="web", database=settings.database)
        try:
            await ensure_migrated(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(preflight())
    except DatabaseNotMigratedError as error:
        _fail(f"refusing to serve: {error}")
    except (OSError, TimeoutError, Exception) as error:  # unreachable: serve anyway, /readyz says 503
        err.print(
            f"[yellow]warning:[/] {describe_connection_error(error)}; /readyz will answer 503 until it is reachable"
        )

    bind_host, bind_port = host or settings.web.host, port or settings.web.port
    out.print(f"Threadwise on [link=http://{bind_host}:{bind_port}]http://{bind_host}:{bind_port}[/link]")
    config = uvicorn.Config(create_app(settings), host=bind_host, port=bind_port, log_config=None, proxy_headers=True)
    # uvicorn re-raises SIGTERM after its graceful shutdown; exiting through SystemExit instead lets the
    # exit handlers run, which stop the embedded PostgreSQL.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    uvicorn.Server(config).run()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    _migrate("upgrade", revision)


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")]) -> None:
    """Revert migrations down to REVISION."""
    _migrate("downgrade", revision)


def _migrate(direction: str, revision: str) -> None:
    from core.db import create_engine
    from core.health import describe_connection_error
    from core.schema import current_revisions, run_migrations

    settings = _settings()
    url = _database_url(settings)

    async def migrate() -> set[str]:
        engine = create_engine(url, role="migrate", database=settings.database)
        try:
            await run_migrations(engine, direction, revision)  # type: ignore[arg-type]
            async with engine.connect() as connection:
                return await current_revisions(connection)
        finally:
            await engine.dispose()

    try:
        now = asyncio.run(migrate())
    except (OSError, TimeoutError) as error:
        _fail(describe_connection_error(error))
    except Exception as error:
        if type(error).__module__.startswith(("sqlalchemy", "asyncpg")) and "connect" in str(error).lower():
            _fail(describe_connection_error(error))
        _fail(f"migration failed: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    out.print(f"Database at revision {', '.join(sorted(now)) or 'base (empty)'}.")


@app.command()
def doctor() -> None:
    """Show the effective configuration and check the database and every configured integration."""
    from bot.doctor import effective_configuration, run_checks

    try:
        settings = load_settings()
    except ConfigurationError as error:
        err.print("[bold red]✗ configuration[/]")
        for problem in error.problems:
            err.print(f"  • {problem}", highlight=False)
        raise typer.Exit(1) from None
    from core.logging import configure_logging

    configure_logging(level="WARNING", log_format=settings.log.format, secrets=settings.secret_values())

    table = Table(title="Effective configuration", show_lines=False)
    table.add_column("variable", style="cyan")
    table.add_column("value")
    for name, shown in effective_configuration(settings):
        table.add_row(name, shown)
    out.print(table)

    if settings.database.url is None:
        with err.status("Starting the embedded PostgreSQL…"):
            checks = asyncio.run(run_checks(settings))
    else:
        checks = asyncio.run(run_checks(settings))
    for check in checks:
        mark = "[green]✓[/]" if check.ok else "[bold red]✗[/]"
        out.print(f"{mark} {check.name:<11} {check.detail}", highlight=False)
    failed = [check for check in checks if not check.ok]
    if failed:
        out.print(f"[bold red]{len(failed)} check(s) failed.[/]")
        raise typer.Exit(1)
    out.print("[green]All checks passed.[/]")


def main() -> None:
    app()


if __name__ == "__main__":
    main()

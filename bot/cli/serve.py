"""``threadwise serve``."""

from __future__ import annotations

import asyncio
import enum
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli.app import app, cli_settings, database_url, err, fail, out
from bot.cli.startup import collect_as_usual

if TYPE_CHECKING:
    from core.settings import DiscordSettings


class Role(enum.StrEnum):
    all = "all"
    web = "web"
    worker = "worker"
    discord = "discord"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default WEB_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default WEB_PORT).")] = None,
    role: Annotated[
        Role,
        typer.Option(
            help="all: listeners, the Discord gateway and a worker in this process; web: Slack's listeners only "
            "(workers run elsewhere); discord: the Discord gateway only; worker: answers queued questions only "
            "(health probes are served in every role)."
        ),
    ] = Role.all,
) -> None:
    """Serve the web app (Slack events, API, health probes) and, with Slack or Discord configured, answer questions."""
    import uvicorn

    from bot.cli.announcing_server import AnnouncingServer
    from bot.open_access import open_listener_problem
    from bot.web.app import create_app
    from core.db import create_engine
    from core.health import describe_connection_error
    from core.schema import DatabaseNotMigratedError, ensure_migrated

    settings = cli_settings()
    # Said first and loudly: an open admin surface on a reachable interface is a configuration mistake.
    if (open_problem := open_listener_problem(settings, host)) is not None:
        err.print(f"[bold red]WARNING:[/] {open_problem}", highlight=False)
    url = database_url(settings)

    async def preflight() -> None:
        engine = create_engine(url, role="web", database=settings.database)
        try:
            await ensure_migrated(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(preflight())
    except DatabaseNotMigratedError as error:
        fail(f"refusing to serve: {error}")
    except Exception as error:  # unreachable: serve anyway, /readyz says 503 until it is reachable
        err.print(f"[yellow]warning:[/] {describe_connection_error(error)}; /readyz answers 503 until it is reachable")

    if role in (Role.all, Role.discord) and settings.discord.enabled:
        _check_discord_gateway(settings.discord)

    bind_host = host or settings.web.host
    bind_port = settings.web.port if port is None else port  # 0: a free port the OS chooses
    web_app = create_app(
        settings,
        role=role.value,
        listeners=role in (Role.all, Role.web),
        worker=role in (Role.all, Role.worker),
        gateway=role in (Role.all, Role.discord),
        freeze_startup_objects=True,
        warm_embedder=role != Role.discord,  # the gateway alone never embeds
    )
    config = uvicorn.Config(web_app, host=bind_host, port=bind_port, log_config=None, proxy_headers=True)
    # uvicorn re-raises SIGTERM after its graceful shutdown; exiting through SystemExit instead lets the
    # exit handlers run, which stop the embedded PostgreSQL.
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    collect_as_usual()
    AnnouncingServer(config, lambda url: out.print(f"Threadwise on [link={url}]{url}[/link]")).run()


def _check_discord_gateway(settings: DiscordSettings) -> None:
    from bot.discord.gateway import GatewayUnreachableError, check_gateway_reachable

    try:
        asyncio.run(check_gateway_reachable(settings))
    except GatewayUnreachableError as error:
        fail(str(error))


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)

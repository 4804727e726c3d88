"""``threadwise doctor``."""

from __future__ import annotations

import asyncio

import typer
from rich.table import Table

from bot.cli.app import app, err, out, print_configuration_problems
from core.settings import ConfigurationError, load_settings


@app.command()
def doctor() -> None:
    """Show the effective configuration and check the database and every configured integration."""
    from bot.doctor import effective_configuration, run_checks
    from core.logging import configure_logging

    try:
        settings = load_settings()
    except ConfigurationError as error:
        print_configuration_problems(error)
        raise typer.Exit(1) from None
    configure_logging(level="WARNING", log_format=settings.log.format, secrets=settings.secret_values())

    table = Table(title="Effective configuration")
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

"""``threadwise report gaps``: the dashboard's knowledge-gap list in the terminal (table, Markdown or CSV)."""

from __future__ import annotations

import csv
import re
import sys
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from bot.cli.app import app, cli_settings, database_url, knowledge_base, out, run_async

if TYPE_CHECKING:
    from agent.gaps import GapGroup

report_app = typer.Typer(no_args_is_help=True, help="Reports on what people asked and how it went.")
app.add_typer(report_app, name="report")

_DURATION = re.compile(r"^\s*(\d+)\s*([dhw])\s*$")
_UNITS = {"h": timedelta(hours=1), "d": timedelta(days=1), "w": timedelta(weeks=1)}
CSV_COLUMNS = ["group", "group_label", "group_size", "question", "outcome", "down_votes", "platform", "tenant"]
CSV_COLUMNS += ["channel", "thread", "asked_at", "comments"]


class Format(StrEnum):
    table = "table"
    markdown = "markdown"
    csv = "csv"


def parse_since(value: str) -> timedelta:
    """``7d``, ``24h``, ``2w`` → a duration (at least one hour, at most a year)."""
    found = _DURATION.match(value)
    if found is None:
        raise typer.BadParameter(f"{value!r} is not a duration like 7d, 24h or 2w")
    duration = int(found.group(1)) * _UNITS[found.group(2)]
    if not timedelta(hours=1) <= duration <= timedelta(days=366):
        raise typer.BadParameter("use a duration between 1h and 366d")
    return duration


@report_app.command("gaps")
def gaps_command(
    since: Annotated[str, typer.Option(help="How far back: 7d, 24h, 2w.")] = "7d",
    tenant: Annotated[str | None, typer.Option(help="One tenant only (default: all).")] = None,
    output: Annotated[Format, typer.Option("--format", help="table, markdown or csv.")] = Format.table,
    similarity: Annotated[
        float | None,
        typer.Option(
            min=0.3,
            max=0.99,
            show_default=False,
            help="How alike (cosine) questions in one group are (default: the dashboard's).",
        ),
    ] = None,
) -> None:
    """Questions the bot abstained on or that were voted 👎, grouped by meaning, biggest group first."""
    # agent.gaps (numpy, the embedders) loads only when a report runs, so its default is resolved here.
    from agent.gaps import DEFAULT_SIMILARITY, knowledge_gaps
    from agent.text_vectors import TextVectors

    alike = DEFAULT_SIMILARITY if similarity is None else similarity
    window = parse_since(since)
    settings = cli_settings(log_level="WARNING")
    url = database_url(settings)
    start = datetime.now(UTC) - window

    async def go() -> list[GapGroup]:
        async with knowledge_base(settings, url, role="report") as kb:
            vectors = TextVectors(kb.embedder)
            return await knowledge_gaps(kb.sessionmaker, vectors, since=start, tenant=tenant, similarity=alike)

    groups = run_async(go())
    if output is Format.csv:
        _write_csv(groups)
    elif output is Format.markdown:
        out.print(_markdown(groups, since), markup=False, highlight=False)
    else:
        _print_table(groups, since)


def _examples(group: GapGroup) -> list[str]:
    from agent.gaps import EXAMPLES_SHOWN  # loaded already: the report ran

    return [f"{q.question} ({q.platform} {q.channel})" for q in group.questions[:EXAMPLES_SHOWN]]


def _print_table(groups: list[GapGroup], since: str) -> None:
    if not groups:
        out.print(f"No knowledge gaps in the last {since}: every question was answered and none voted 👎.")
        return
    table = Table(title=f"Knowledge gaps, last {since} ({len(groups)} groups)", show_lines=True)
    for column, justify in (("question", "left"), ("asked", "right"), ("abstained", "right"), ("👎", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    table.add_column("examples")
    for group in groups:
        table.add_row(
            group.label, str(group.count), str(group.abstained), str(group.down_votes), "\n".join(_examples(group))
        )
    out.print(table)


def _markdown(groups: list[GapGroup], since: str) -> str:
    lines = [f"# Knowledge gaps, last {since}", ""]
    if not groups:
        return "\n".join([*lines, "None: every question was answered and none voted 👎."])
    lines += ["| question | asked | abstained | 👎 | examples |", "|---|---:|---:|---:|---|"]
    for group in groups:
        cells = [group.label, str(group.count), str(group.abstained), str(group.down_votes)]
        cells.append("<br>".join(_examples(group)))
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return "\n".join(lines)


def _write_csv(groups: list[GapGroup]) -> None:
    """One row per question, with its group's number and label: easy to sort and filter in a spreadsheet."""
    writer = csv.writer(sys.stdout)
    writer.writerow(CSV_COLUMNS)
    for number, group in enumerate(groups, start=1):
        for q in group.questions:
            where = [q.platform, q.tenant, q.channel, q.thread, q.asked_at.isoformat()]
            writer.writerow(
                [
                    number,
                    group.label,
                    group.count,
                    q.question,
                    q.outcome,
                    q.down_votes,
                    *where,
                    " | ".join(q.comments),
                ]
            )

"""docutils tables (grid, simple, list-table, csv-table) to GFM pipe tables."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from docutils import nodes

N = TypeVar("N", bound=nodes.Node)


def children(node: nodes.Element, kind: type[N]) -> list[N]:
    """The direct children of ``node`` of one node class."""
    return [child for child in node.children if isinstance(child, kind)]


def _rows(group: nodes.Element, columns: int, cell: Callable[[nodes.entry], str]) -> list[list[str]]:
    """The rows of a ``thead``/``tbody``, spanned cells filled with empty ones so each row has every column."""
    rows: list[list[str]] = []
    spanned_rows = [0] * columns  # per column: how many more rows a cell above still covers
    for row in children(group, nodes.row):
        cells: list[str | None] = [None] * columns
        for column in range(columns):
            if spanned_rows[column]:
                cells[column] = ""
                spanned_rows[column] -= 1
        column = 0
        for entry in children(row, nodes.entry):
            while column < columns and cells[column] is not None:
                column += 1
            if column >= columns:
                break
            cells[column] = cell(entry)
            span = int(entry.get("morecols", 0))
            for extra in range(column, min(column + span + 1, columns)):
                if extra > column:
                    cells[extra] = ""
                spanned_rows[extra] = int(entry.get("morerows", 0))
            column += span + 1
        rows.append([text or "" for text in cells])
    return rows


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(text.replace("|", "\\|") for text in cells) + " |"


def render_table(table: nodes.table, cell: Callable[[nodes.entry], str]) -> str:
    """A pipe table; the header is the table's head row, else its first row (GFM needs one)."""
    group = next(iter(children(table, nodes.tgroup)), None)
    if group is None:
        return ""
    columns = int(group.get("cols", 0)) or len(children(group, nodes.colspec))
    if columns == 0:
        return ""
    rows: list[list[str]] = []
    for part in group.children:
        if isinstance(part, nodes.thead | nodes.tbody):
            rows.extend(_rows(part, columns, cell))
    if not rows:
        return ""
    header, body = rows[0], rows[1:]
    return "\n".join([_line(header), _line(["---"] * columns), *(_line(row) for row in body)])

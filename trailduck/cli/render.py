"""How the CLI shows rows and messages on a terminal; the CLI prints what these functions build.

Keys and values are attacker-chosen, so every control character in them is shown as ``\\xNN``, never sent (a
key can hold a terminal escape). A message keeps its line breaks and tabs, nothing else raw. A query result is
a table when its columns fit the terminal; else each row is shown one line per column, as DuckDB's
``.mode line`` does, every value cut to the width with an ellipsis: a table squeezed into too few characters
folds every cell into a column one character wide, a thousand lines for three rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from trailduck.analysis.query import jsonable

_CONTROL = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
_MESSAGE_CONTROL = {c: shown for c, shown in _CONTROL.items() if chr(c) not in "\n\t"}

#: The fewest characters a column gets (or its name's length, if longer): when the columns cannot all have
#: that much, the rows are shown one line per column instead of a table.
MIN_COLUMN = 12

#: Between a column's name and its value in the one-line-per-column layout (DuckDB's ``.mode line`` spelling).
_SEPARATOR = " = "


def printable(text: str) -> str:
    """A key or value for the terminal: control characters (terminal escapes) shown as \\xNN, never raw."""
    return text.translate(_CONTROL)


def readable(text: str) -> str:
    """A message for the terminal: as :func:`printable`, but its line breaks and tabs stay real (DuckDB's
    errors point at the query on a line of their own)."""
    return text.translate(_MESSAGE_CONTROL)


def cell_text(value: Any) -> str:
    """One value as one line of text: NULL empty, a struct, map or list as JSON (as ``--format csv``)."""
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return printable(json.dumps(jsonable(value), ensure_ascii=False))
    return printable(str(value))


def _min_width(name: str, cells: Iterator[str]) -> int:
    """What a column needs: all of its widest cell, or at least MIN_COLUMN characters and its whole name."""
    natural = max(cell_len(name), *(cell_len(c) for c in cells), 0)
    return min(natural, max(cell_len(name), MIN_COLUMN))


def fitting_table(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int, title: str | None = None
) -> Table | None:
    """The rows as a table, or None when it would not fit ``width`` characters without a column narrower than
    its name or MIN_COLUMN."""
    names = [printable(c) for c in columns]
    texts = [[cell_text(v) for v in row] for row in rows]
    needs = [_min_width(name, (row[i] for row in texts)) for i, name in enumerate(names)]
    # A box-drawn row: a border before each column and after the last, one space of padding on each side.
    if sum(needs) + 3 * len(names) + 1 > width:
        return None
    table = Table(title=title, title_justify="left")
    for name, need in zip(names, needs, strict=True):
        table.add_column(Text(name), overflow="fold", min_width=need)
    for row in texts:
        table.add_row(*[Text(cell) for cell in row])
    return table


def _cut(text: str, width: int) -> tuple[Text, bool]:
    shown = Text(text, no_wrap=True)
    cut = shown.cell_len > width
    if cut:
        shown.truncate(width, overflow="ellipsis")
    return shown, cut


def line_per_column(
    columns: Sequence[str], rows: Sequence[Sequence[Any]], width: int, title: str | None = None
) -> list[Text]:
    """The rows for a terminal ``width`` characters wide, one line per column (``name = value``, names aligned
    right), a ``-- row N --`` line before each row, values cut with an ellipsis; a last line says how to see
    them whole when one was cut."""
    names = [printable(c) for c in columns]
    name_width = min(max(map(cell_len, names), default=0), max(width // 2, MIN_COLUMN))
    value_width = max(width - name_width - len(_SEPARATOR), 1)
    lines: list[Text] = [Text(title, style="italic")] if title else []
    if not rows:
        return [*lines, Text(f"0 rows (columns: {', '.join(names)})")]
    any_cut = False
    for n, row in enumerate(rows, 1):
        if n > 1:
            lines.append(Text())
        lines.append(Text(f"-- row {n} --", style="dim"))
        for name, value in zip(names, row, strict=True):
            label, _ = _cut(name, name_width)
            label.pad_left(name_width - label.cell_len)
            label.stylize("bold")
            shown, cut = _cut(cell_text(value), value_width)
            any_cut |= cut
            lines.append(Text.assemble(label, _SEPARATOR.rstrip() if not shown else _SEPARATOR, shown))
    lines.append(Text())
    noun = "row" if len(rows) == 1 else "rows"
    lines.append(
        Text(
            f"{len(rows):,} {noun} shown one line per column: {len(columns)} columns do not fit {width} characters "
            "as a table",
            style="dim",
        )
    )
    if any_cut:
        lines.append(
            Text("… marks a value cut to fit; --format json or csv shows every value whole", style="dim")
        )
    return lines

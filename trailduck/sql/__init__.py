"""Every SQL text of trailduck, as readable ``.sql`` files in this folder, and how they are read.

``detections/`` and ``analysis/`` hold one view per file with a header (see :mod:`trailduck.sql.catalog`);
the other files are the lake's views and the converter's statements.
"""

from __future__ import annotations

from importlib import resources


def load_sql(name: str) -> str:
    """The text of ``trailduck/sql/<name>``."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"

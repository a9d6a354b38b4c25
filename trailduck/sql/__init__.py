"""Every SQL text of trailduck, as readable ``.sql`` files in this folder, and how they are read.

``detections/`` and ``analysis/`` hold one view per file with a header (see :mod:`trailduck.sql.catalog`);
the other files are the lake's views and the converter's statements.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources
from importlib.abc import Traversable


def load_sql(name: str) -> str:
    """The text of ``trailduck/sql/<name>``."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")


@functools.cache
def fingerprint() -> str:
    """A digest of every SQL text of this trailduck: views made from other texts (an older or newer trailduck)
    are told apart by it without the lake's files being listed."""
    digest = hashlib.sha256()

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.is_dir():
                walk(entry, f"{prefix}{entry.name}/")
            elif entry.name.endswith(".sql"):
                digest.update(f"{prefix}{entry.name}\0".encode())
                digest.update(entry.read_bytes())

    walk(resources.files(__name__), "")
    return digest.hexdigest()[:16]


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"

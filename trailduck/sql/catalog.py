"""The detection and analysis views: SQL files with a header, found in ``trailduck/sql/detections`` and
``trailduck/sql/analysis``.

Each file is one ``SELECT``; its first comment lines say what it is::

    -- view: cis_4_01_unauthorized_api_calls
    -- id: cis-4.1                  (detections only)
    -- title: Unauthorized API calls  (detections only)
    -- severity: medium             (detections only: low, medium or high)
    -- description: one line for `trailduck views`

The semantics the CIS views follow (CloudWatch metric filters) are written down in
``trailduck/sql/detections/README.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

SEVERITIES = ("high", "medium", "low")
_HEADER = re.compile(r"--\s*(view|id|title|severity|description):\s*(.+)")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


@dataclass(frozen=True)
class SqlView:
    view: str
    description: str
    select: str
    id: str | None = None
    title: str | None = None
    severity: str | None = None

    @property
    def is_detection(self) -> bool:
        return self.id is not None

    def create_statement(self) -> str:
        return f"CREATE OR REPLACE VIEW {self.view} AS\n{self.select.rstrip().rstrip(';')};"


def parse_sql_view(text: str, origin: str) -> SqlView:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        m = _HEADER.fullmatch(line.strip())
        if m and m.group(1) not in fields:
            fields[m.group(1)] = m.group(2).strip()
    view = fields.get("view", "")
    if not _NAME.fullmatch(view) or "description" not in fields:
        raise ValueError(f"{origin}: needs '-- view: <name>' and '-- description: ...' header lines")
    if "id" in fields and (fields.get("severity") not in SEVERITIES or "title" not in fields):
        raise ValueError(f"{origin}: a detection needs a title and a severity of {', '.join(SEVERITIES)}")
    return SqlView(
        view=view,
        description=fields["description"],
        select=text,
        id=fields.get("id"),
        title=fields.get("title"),
        severity=fields.get("severity"),
    )


def _load(folder: str) -> list[SqlView]:
    base = resources.files("trailduck.sql").joinpath(folder)
    files = sorted((f for f in base.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [parse_sql_view(f.read_text(encoding="utf-8"), f"sql/{folder}/{f.name}") for f in files]


def _order(d: SqlView) -> tuple[int, int, str]:
    """CIS controls first, in number order (4.2 before 4.10), then the project's own."""
    assert d.id is not None
    if d.id.startswith("cis-"):
        return (0, int(d.id.rsplit(".", 1)[1]), d.id)
    return (1, 0, d.id)


@cache
def detections() -> tuple[SqlView, ...]:
    return tuple(sorted(_load("detections"), key=_order))


@cache
def analysis_views() -> tuple[SqlView, ...]:
    return tuple(_load("analysis"))

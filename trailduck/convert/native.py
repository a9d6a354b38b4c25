"""Typed columns built in C, in one pass over the raw records (``_columns.c``), straight into Arrow buffers.

The fastest of the three ways to the typed columns, and exact. Its contract, one for every caller: for a batch,
:func:`typed_columns` gives the columns of the Python path (the reference, in
:mod:`trailduck.convert.converter`), or refuses the batch and returns None, and the caller converts it the other
ways. There is no third outcome: whatever C cannot do is a refusal, never a bad file. It refuses where the
reference would print a value differently from its bytes: a float in a string column, an escaped key,
whitespace inside an object kept as text (real CloudTrail records have none of these); and wherever it raises
(:data:`REFUSALS`), a schema past its limits included. One difference is left: an object kept as text inside
a typed column (rare, e.g. a ``userName`` that is an object) keeps a duplicate key as delivered, where the
reference prints the last value once; ``event_json`` has the truth either way. The extension is optional
(``setup.py``); without a C compiler at install time :data:`AVAILABLE` is False and the other paths do the
work, as they do everywhere when $TRAILDUCK_CONVERTER is ``python`` (:func:`choose`).
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import msgspec
import pyarrow as pa

from trailduck.convert.schema import JSON_META, JSON_TEXT_FIELDS, RECORD_FIELDS
from trailduck.errors import ConfigError

try:
    from trailduck.convert import _columns  # type: ignore[attr-defined]
except ImportError:  # installed without a C compiler
    _columns = None

AVAILABLE = _columns is not None
log = logging.getLogger(__name__)

#: The converters a run can use, by the name the ingest summary and its JSON give, with what people read.
#: "python" is every path but C: DuckDB's JSON functions for a well-shaped batch, else Python objects.
C = "c"
PYTHON = "python"
CONVERTERS = {C: "C column builder", PYTHON: "pure Python"}
#: The converter of a run that names none, where $TRAILDUCK_CONVERTER is unset: C when it is compiled.
DEFAULT = C if AVAILABLE else PYTHON

#: The one switch of the library read from the environment ("c" or "python"; unset or empty: the default), for
#: the CLI and the library alike, so that the test suite can run again with C switched off. Read by
#: :func:`choose` when a run chooses its converter, never at import.
CONVERTER_ENV = "TRAILDUCK_CONVERTER"


def choose(name: str | None = None) -> str:
    """The converter a run uses: ``name`` ("c" or "python"); without one, $TRAILDUCK_CONVERTER when it is set,
    else :data:`DEFAULT`. Raises ConfigError for another name, or for C where it is not compiled."""
    if name is not None:
        if name not in CONVERTERS:
            raise ConfigError(f"converter {name!r}: give c (the C column builder) or python")
        if name == C and not AVAILABLE:
            raise ConfigError(not_compiled())
        return name
    value = os.environ.get(CONVERTER_ENV) or None
    if value is None:
        return DEFAULT
    if value not in CONVERTERS:
        raise ConfigError(
            f"{CONVERTER_ENV}={value!r}: set it to {' or '.join(CONVERTERS)}, or unset it for the default"
        )
    if value == C and not AVAILABLE:
        raise ConfigError(f"{CONVERTER_ENV}={value}: {not_compiled()}")
    return value


def not_compiled() -> str:
    """Why this install converts in Python, and the line that fixes it."""
    return (
        "the C column builder is not compiled; install a C compiler and Python's headers (e.g. apt-get "
        f"install gcc python3-dev), then: {_reinstall_command()}"
    )


def _reinstall_command() -> str:
    """The pip command that builds this install again from its source, compiling the extension."""
    for dist in importlib.metadata.distributions(name="trailduck"):
        origin = dist.read_text("direct_url.json")  # PEP 610: where pip installed it from
        if not origin:
            continue
        info = json.loads(origin)
        url = urlparse(info.get("url", ""))
        if url.scheme == "file":
            editable = "-e " if info.get("dir_info", {}).get("editable") else ""
            return f"pip install --force-reinstall --no-deps {editable}{shlex.quote(unquote(url.path))}"
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "setup.py").is_file():  # a source checkout on the path
        return f"pip install --force-reinstall --no-deps -e {shlex.quote(str(checkout))}"
    return "pip install --force-reinstall --no-deps --no-binary trailduck trailduck"


# Node kinds, as in _columns.c.
_STR, _JSON, _BOOL, _STRUCT, _LIST, _RAW, _TIME = range(7)


def _spec(t: pa.DataType, metadata: Any) -> tuple[int, Any]:
    if pa.types.is_struct(t):
        return _STRUCT, tuple((f.name, _spec(f.type, f.metadata)) for f in t)
    if pa.types.is_list(t):
        return _LIST, _spec(t.value_type, None)
    if pa.types.is_boolean(t):
        return _BOOL, None
    return (_JSON if metadata == JSON_META else _STR), None


def _top(field: pa.Field) -> tuple[pa.DataType, tuple[int, Any]]:
    """A record field's type as built here, and its node."""
    if field.name in JSON_TEXT_FIELDS:
        return pa.string(), (_RAW, None)  # the bytes as delivered
    if field.name == "eventTime":
        return pa.string(), (_TIME, None)  # the text, parsed by the caller
    return field.type, _spec(field.type, field.metadata)


_TYPES = {f.name: _top(f)[0] for f in RECORD_FIELDS}
_ROOT = (_STRUCT, tuple((f.name, _top(f)[1]) for f in RECORD_FIELDS))


def _array(t: pa.DataType, nodes: Iterator[tuple[int, int, Any, Any, Any]]) -> pa.Array:
    length, nulls, valid, offsets, data = next(nodes)
    validity = None if valid is None else pa.py_buffer(valid)
    if pa.types.is_struct(t):
        children = [_array(f.type, nodes) for f in t]
        return pa.Array.from_buffers(t, length, [validity], nulls, children=children)
    if pa.types.is_list(t):
        item = _array(t.value_type, nodes)
        return pa.Array.from_buffers(t, length, [validity, pa.py_buffer(offsets)], nulls, children=[item])
    if pa.types.is_boolean(t):
        return pa.Array.from_buffers(t, length, [validity, pa.py_buffer(data)], nulls)
    return pa.Array.from_buffers(t, length, [validity, pa.py_buffer(offsets), pa.py_buffer(data)], nulls)


#: What building a batch in C may raise, each turned into a refusal (None) by :func:`typed_columns`, so that the
#: batch takes the next path and no file is quarantined for what C cannot do: ValueError for a schema past
#: ``_columns.c``'s limits (64 fields a struct, 16 levels) or offsets it cannot read, TypeError for a schema
#: description it cannot parse, RuntimeError for buffers it could not finish, MemoryError where its buffers
#: did not fit (freed before it raises), and Arrow's errors where the buffers it gave back fail Arrow's checks.
#: Anything else (AttributeError, KeyError...) is a bug here, and is raised.
REFUSALS: tuple[type[Exception], ...] = (
    ValueError,
    TypeError,
    OverflowError,
    RuntimeError,
    MemoryError,
    pa.ArrowException,
)
_reported: set[str] = set()


def typed_columns(event_json: pa.StringArray) -> dict[str, pa.Array] | None:
    """Every record field's column for a batch of raw records, or None when C refuses the batch.

    ``eventTime`` comes back as its text (strings only, anything else NULL), the JSON-text fields as their
    raw bytes (absent and null as NULL). Never raises for what C cannot do (:data:`REFUSALS`): it refuses.
    """
    if _columns is None or event_json.null_count:
        return None
    try:
        return _built(event_json)
    except REFUSALS as exc:
        reason = f"{type(exc).__name__}: {exc}"
        # Logged once a process: a schema past the limits would otherwise say so for every batch.
        level = logging.DEBUG if reason in _reported else logging.WARNING
        _reported.add(reason)
        log.log(level, "the C column builder refused a batch (%s); converting it the other ways", reason)
        return None


def _built(event_json: pa.StringArray) -> dict[str, pa.Array] | None:
    assert _columns is not None
    _, offsets, data = event_json.buffers()
    offsets = offsets.slice(event_json.offset * 4, (len(event_json) + 1) * 4)
    nodes = _columns.columns(_ROOT, data if data is not None else b"", offsets, len(event_json))
    if nodes is None:
        return None
    it = iter(nodes)
    next(it)  # the record itself
    columns = {name: _array(t, it) for name, t in _TYPES.items()}
    for column in columns.values():
        column.validate(full=True)  # C's output is checked like any other input: offsets, bitmaps, UTF-8
    return columns


def first_non_object(raws: list[msgspec.Raw]) -> int:
    """The index of the first raw record that is not a JSON object, or -1."""
    assert _columns is not None
    return int(_columns.first_non_object(raws))

"""The terminal: the two consoles, messages, rows, and the one mapping from the library's errors to a message
and an exit code (:class:`trailduck.errors.ExitCode`)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from trailduck.analysis.query import jsonable
from trailduck.cli.render import fitting_table, line_per_column, printable, readable
from trailduck.errors import ConfigError, ExitCode, TrailduckError

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def reset() -> None:
    """New consoles, made for each command rather than at import: a caller that runs several commands in one
    process (tests, notebooks) gets the terminal width and $COLUMNS of each."""
    global out, err
    out = Console(soft_wrap=True)
    err = Console(stderr=True, soft_wrap=True)


def show(text: str) -> str:
    """A key or value for rich's markup, on one line: control characters made visible, markup escaped."""
    return escape(printable(text))


def say(text: str) -> str:
    """A message for rich's markup: as :func:`show`, but its line breaks and tabs are kept."""
    return escape(readable(text))


class StopSignal(KeyboardInterrupt):
    """A stop asked by the system: SIGTERM, which `docker stop`, Kubernetes and systemd send. Raised in the main
    thread and unwound like Ctrl-C (a KeyboardInterrupt too), so the files in progress are deleted, nothing is
    committed, and the command exits 128 + the signal's number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def raise_stop_signal(signum: int, frame: FrameType | None) -> None:
    # A second one must not interrupt the clean-up that the first one started.
    signal.signal(signum, signal.SIG_IGN)
    raise StopSignal(signum)


NOTHING_COMMITTED = "nothing was committed for the files in progress, the next run redoes them"
#: When the stop came after the run had written its commit ahead (see Lake.after_commit_ahead).
COMMITTED_AHEAD = "the run had written its commit ahead, so it is kept: the next run finishes it"


#: When the stop came after the run's checkpoint was saved (its marker's removal, the views' refresh).
COMMITTED = (
    "the run was committed first (the views are refreshed by the next run or `trailduck views --refresh`)"
)


def _outcome(exc: KeyboardInterrupt) -> str:
    if getattr(exc, "committed", False):
        return COMMITTED
    return COMMITTED_AHEAD if getattr(exc, "committed_ahead", False) else NOTHING_COMMITTED


def fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {say(message)}", highlight=False)
    raise typer.Exit(code)


@contextmanager
def exit_on_error() -> Iterator[None]:
    """Map the library's exceptions to a message and an exit code; never a traceback for a known error."""
    try:
        yield
    except ConfigError as exc:
        fail(str(exc), ExitCode.USAGE)
    except TrailduckError as exc:
        fail(str(exc), ExitCode.FATAL)
    except BrokenPipeError:
        # The reader went away (`trailduck report | head`): not an error worth a message.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so the interpreter's final flush stays quiet
        raise typer.Exit(ExitCode.FATAL) from None
    except StopSignal as exc:
        fail(
            f"stopped by {signal.Signals(exc.signum).name}; {_outcome(exc)}",
            ExitCode.SIGNALLED + exc.signum,
        )
    except KeyboardInterrupt as exc:
        fail(f"interrupted; {_outcome(exc)}", ExitCode.SIGNALLED + signal.SIGINT)
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"{where}{exc.strerror or exc}", ExitCode.FATAL)


def print_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str, title: str | None = None) -> None:
    if fmt == "json":
        print(
            json.dumps(
                [dict(zip(columns, map(jsonable, r), strict=True)) for r in rows],
                indent=2,
                ensure_ascii=False,
            )
        )
    elif fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        for r in rows:
            writer.writerow(
                ["" if v is None else json.dumps(jsonable(v)) if isinstance(v, dict | list) else v for v in r]
            )
    else:
        table = fitting_table(columns, rows, out.width, title)
        if table is not None:
            out.print(table)
            return
        for line in line_per_column(columns, rows, out.width, title):
            out.print(line, soft_wrap=False)  # the values are cut to the width already; a long note wraps

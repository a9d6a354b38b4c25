"""Is the source the location that holds ``AWSLogs/``? When it is not, say which location is.

A source given one folder too high (``s3://bucket`` with the logs under ``logs/AWSLogs/``) or too low (the
``AWSLogs/`` folder itself, an account folder, a copy made with ``aws s3 sync s3://b/AWSLogs ./copy``) would
otherwise list nothing and look like a trail with nothing new.

The check costs one delimiter listing of ``AWSLogs/`` when the source is right (the listing discovery makes
anyway, and the only one the least-privilege reader policy allows). Otherwise: the source's own name (a path
through ``AWSLogs``), then its folders, one listing to confirm what they are, and at most :data:`MAX_PROBES`
folders below, :data:`PROBE_DEPTH` levels deep; never a recursive listing of a big bucket.
"""

from __future__ import annotations

import logging
import re
from collections import deque

from trailduck.errors import AccessDeniedError, ConfigError
from trailduck.scanner.keys import ACCOUNT_RE, ORG_RE, REGION_RE, Kind
from trailduck.scanner.source import Source

log = logging.getLogger(__name__)

#: The folder CloudTrail writes under, below the trail's bucket prefix.
AWSLOGS = "AWSLogs"
#: How many folders below the source are listed, at most, to find ``AWSLogs/`` (breadth first).
MAX_PROBES = 100
#: How deep below the source ``AWSLogs/`` is looked for (``logs/AWSLogs/`` is 1, ``a/b/AWSLogs/`` is 2).
PROBE_DEPTH = 2
#: Names shown in a message before "... and N more".
SHOWN = 20

_YEAR_RE = re.compile(r"[0-9]{4}")
_KINDS = frozenset(k.value for k in Kind)


def shown(names: list[str], limit: int = SHOWN) -> str:
    """``a, b, c`` for a message, cut after ``limit`` names."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} ... and {len(names) - limit} more"


def nothing_found(source: Source) -> str:
    """The note for a source that holds no CloudTrail folder yet (not an error: a new trail is empty)."""
    return (
        f"no CloudTrail files found in {_location(source.uri)}: it has no AWSLogs/<account>/CloudTrail/ "
        "folder yet (a new trail delivers its first files a few minutes after logging starts)"
    )


def check_layout(source: Source, command: str) -> None:
    """Raise ConfigError naming the location to use when ``source`` does not hold ``AWSLogs/``.

    An empty source passes (a trail created minutes ago); so does one holding ``AWSLogs/``, whatever is
    below it. ``command`` is the trailduck command the message tells the user to run again.
    """
    if source.list_dirs(f"{AWSLOGS}/"):
        return  # the usual case, in one listing that the least-privilege reader policy allows
    try:
        top: list[str] | None = source.list_dirs("")
    except AccessDeniedError as exc:
        # The reader policy in the README allows listing only below AWSLogs/: such a reader cannot look around.
        log.info("%s; not looking for AWSLogs/ elsewhere", exc)
        top = None
    if top is not None and AWSLOGS in top:
        return  # an AWSLogs/ with no account folder yet
    here = _location(source.uri)
    parts = here.split("/")
    if AWSLOGS in parts[1:]:
        # The source sits inside a CloudTrail layout: the location above the (last) AWSLogs segment is the one.
        at = len(parts) - 1 - parts[::-1].index(AWSLOGS)
        parent = "/".join(parts[:at]) or "/"
        what = _inside(parts[at + 1 :])
        raise ConfigError(
            f"{here} is {what}; CloudTrail logs are under {_slash(parent)}: run trailduck {command} {parent}"
        )
    if top is None:
        return  # AWSLogs/ is empty so far, as far as this reader can tell: the caller notes nothing was found
    try:
        _look_around(source, here, top, command)
    except AccessDeniedError as exc:
        log.info("%s; not looking for AWSLogs/ further", exc)


def _look_around(source: Source, here: str, top: list[str], command: str) -> None:
    """Raise ConfigError naming the location to use, judged by what the source and the folders below hold."""
    holds = _holds(source, here, top)
    if holds:
        raise ConfigError(_no_awslogs_above(source, here, *holds, command))
    found, complete = _probe(source, top)
    if len(found) == 1:
        raise ConfigError(
            f"{here} has no AWSLogs/ folder; CloudTrail logs are under {_slash(found[0])}: "
            f"run trailduck {command} {found[0]}"
        )
    if found:
        raise ConfigError(
            f"{here} has no AWSLogs/ folder, but these locations do: {shown([_slash(f) for f in found])}; "
            f"run trailduck {command} on each trail you want, e.g. trailduck {command} {found[0]}"
        )
    if not top and next(iter(source.list_objects("")), None) is None:
        return  # nothing at all yet: the caller notes that no CloudTrail files were found
    looked = (
        f"{PROBE_DEPTH} folder levels below it" if complete else f"the first {MAX_PROBES} folders below it"
    )
    raise ConfigError(
        f"{here}: no AWSLogs/ folder here or in {looked}; give the location that holds AWSLogs/ "
        "(s3://bucket[/prefix] or a folder with the bucket's layout)"
    )


def _location(uri: str) -> str:
    """A source's uri as the user would type it: no trailing slash (but ``/`` stays ``/``)."""
    return uri.rstrip("/") or "/"


def _slash(location: str) -> str:
    return location if location.endswith("/") else f"{location}/"


def _inside(below: list[str]) -> str:
    """What a source is, from its path segments below ``AWSLogs``."""
    if not below:
        return "the AWSLogs/ folder itself"
    if len(below) == 1 and ACCOUNT_RE.fullmatch(below[0]):
        return "an account folder inside AWSLogs/"
    if len(below) == 1 and ORG_RE.fullmatch(below[0]):
        return "an organization folder inside AWSLogs/"
    return "a folder inside AWSLogs/"


def _holds(source: Source, here: str, top: list[str]) -> tuple[str, bool] | None:
    """What part of a CloudTrail layout the source is, judged by its folders, when it is one, and whether it is
    what an ``AWSLogs/`` folder holds (account or organization folders)."""
    name = here.rsplit("/", 1)[-1]
    owners = [n for n in top if ACCOUNT_RE.fullmatch(n) or ORG_RE.fullmatch(n)]
    if owners:
        # Twelve-digit folder names could be anything: confirm with one listing that one of them is a trail's.
        below = set(source.list_dirs(f"{owners[0]}/"))
        if ORG_RE.fullmatch(owners[0]):
            confirmed = any(ACCOUNT_RE.fullmatch(n) for n in below)
        else:
            confirmed = bool(below & _KINDS)
        if confirmed:
            if ORG_RE.fullmatch(name) and not ORG_RE.fullmatch(owners[0]):
                return "an organization folder (it holds account folders)", False
            return "a copy of an AWSLogs/ folder's content (it holds account folders directly)", True
    if _KINDS.intersection(top):
        return "an account folder (it holds CloudTrail/)", False
    if name in _KINDS and any(REGION_RE.fullmatch(n) for n in top):
        return f"a {name}/ folder (it holds region folders)", False
    if REGION_RE.fullmatch(name) and any(_YEAR_RE.fullmatch(n) for n in top):
        return "a region folder (it holds year folders)", False
    return None


def _no_awslogs_above(source: Source, here: str, what: str, awslogs_content: bool, command: str) -> str:
    message = (
        f"{here} is {what}, without the AWSLogs/ folder above it; trailduck needs the location that holds "
        "AWSLogs/<account>/CloudTrail/<region>/"
    )
    if not awslogs_content:
        if source.bucket_name is not None:
            return f"{message}: give that s3:// location"
        return (
            f"{message}: give that folder, or copy the whole AWSLogs/ folder (aws s3 sync s3://BUCKET/AWSLogs "
            f"./copy/AWSLogs) and run trailduck {command} ./copy"
        )
    if source.bucket_name is None:
        # What `aws s3 sync s3://b/AWSLogs ./copy` leaves: sync into a folder named AWSLogs instead.
        return (
            f"{message}: sync into a folder that keeps AWSLogs/ (aws s3 sync s3://BUCKET/AWSLogs "
            f"{here}/AWSLogs) or move the account folders into {here}/AWSLogs/, then run trailduck {command} "
            f"{here}"
        )
    return f"{message}: copy the account folders under {here}/AWSLogs/, then run trailduck {command} {here}"


def _probe(source: Source, top: list[str]) -> tuple[list[str], bool]:
    """Locations up to :data:`PROBE_DEPTH` levels below the source that hold ``AWSLogs/``, and whether every
    folder to that depth was looked at (False when :data:`MAX_PROBES` cut the search short)."""
    found: list[str] = []
    queue: deque[tuple[str, int]] = deque((name, 1) for name in top)
    listings = 0
    while queue:
        folder, depth = queue.popleft()
        if listings == MAX_PROBES:
            return found, False
        listings += 1
        below = source.list_dirs(f"{folder}/")
        if AWSLOGS in below:
            found.append(source.display(folder))
            continue  # a trail's own folders are not searched for another trail
        if depth < PROBE_DEPTH:
            queue.extend((f"{folder}/{name}", depth + 1) for name in below)
    return found, True

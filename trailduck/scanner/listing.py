"""Discovery of accounts and regions, and listing of one stream by date.

Discovery uses delimiter listings under ``AWSLogs/`` (accounts, organization ids with their accounts, then
regions), so it costs a handful of requests whatever the trail's size. A stream is then listed from its first
wanted day with ``StartAfter``: one paginated listing covers every day from there on, late files included,
without ever relying on "the last key seen" (files arrive out of key order).

Listing is waiting on the network: an organization's trail has a thousand streams and more, and one listed after
another costs a round trip each (35 to 64 s for 1,020 streams at 20 ms a request). Region folders and streams
are listed on a few threads at once (:func:`in_parallel`), their results taken in order, so what a run does
is the same whatever the order the answers come in.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import TypeVar

from trailduck.errors import ConfigError
from trailduck.scanner.keys import (
    ACCOUNT_RE,
    ORG_RE,
    REGION_RE,
    InvalidKeyError,
    Kind,
    Stream,
    TrailKey,
    are_file_names,
    folder_day,
    parse_key,
)
from trailduck.scanner.locate import shown
from trailduck.scanner.source import FolderSource, ObjectRef, Source

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


def in_parallel(fn: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[R]:
    """``fn`` of each item, on up to ``workers`` threads, yielded in the items' order (an item's error raised
    where its result would be). At most twice ``workers`` calls are ahead of the caller; when the caller stops
    reading, the calls running are waited for and no other is started."""
    if workers <= 1 or len(items) <= 1:
        yield from map(fn, items)
        return
    pool = ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="trailduck-list")
    try:
        ahead: deque[Future[R]] = deque(pool.submit(fn, item) for item in items[: 2 * workers])
        rest = iter(items[2 * workers :])
        while ahead:
            result = ahead.popleft().result()
            for item in islice(rest, 1):
                ahead.append(pool.submit(fn, item))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


#: Listings at once, at most (the S3 client keeps as many connections).
LISTING_THREADS = 16


def listing_threads(source: Source, most: int) -> int:
    """Threads listing ``source`` at once, at most ``most``: one for a local folder, whose listing is system
    calls of a few µs that several threads only make contend for the GIL (an lstat took 30 µs among 16 threads,
    3 µs alone); else up to :data:`LISTING_THREADS` round trips at once."""
    return 1 if isinstance(source, FolderSource) else min(most, LISTING_THREADS)


#: The kinds converted into the lake. Digests are not events: they are read by integrity validation.
INGESTED_KINDS = (Kind.LOG, Kind.INSIGHT)


@dataclass(frozen=True, slots=True)
class Skipped:
    """An object or folder that is not part of any trail, with the reason."""

    key: str
    reason: str


@dataclass(frozen=True, slots=True)
class Listed:
    ref: ObjectRef
    key: TrailKey


def discover_streams(
    source: Source,
    *,
    accounts: Iterable[str] | None = None,
    regions: Iterable[str] | None = None,
    kinds: Iterable[Kind] = INGESTED_KINDS,
    skipped: list[Skipped] | None = None,
    workers: int = 1,
) -> list[Stream]:
    """Every (org, account, kind, region) folder below ``AWSLogs/``, filtered by the given accounts/regions.

    An account or region asked for that the source does not hold raises ConfigError listing those it does (a
    typo must not look like a trail with nothing new); a source with no account or region at all is not
    checked: a new trail has none yet.
    """
    want_accounts = set(accounts) if accounts else None
    want_regions = set(regions) if regions else None
    notes = skipped if skipped is not None else []
    owners: list[tuple[str | None, str]] = []
    for name in source.list_dirs("AWSLogs/"):
        if ACCOUNT_RE.fullmatch(name):
            owners.append((None, name))
        elif ORG_RE.fullmatch(name):
            for member in source.list_dirs(f"AWSLogs/{name}/"):
                if ACCOUNT_RE.fullmatch(member):
                    owners.append((name, member))
                else:
                    notes.append(Skipped(f"AWSLogs/{name}/{member}/", "not a 12-digit account folder"))
        else:
            notes.append(Skipped(f"AWSLogs/{name}/", "not an account or organization folder"))
    present = sorted({account for _, account in owners})
    if want_accounts is not None and present and not want_accounts <= set(present):
        missing = sorted(want_accounts - set(present))
        raise ConfigError(
            f"--accounts {','.join(missing)}: not in {source.display('AWSLogs/')}; "
            f"the accounts there are {shown(present)}"
        )
    streams: list[Stream] = []
    regions_seen: set[str] = set()
    folders = [
        (
            org,
            account,
            kind,
            (f"AWSLogs/{org}/{account}/" if org else f"AWSLogs/{account}/") + f"{kind.value}/",
        )
        for org, account in owners
        if want_accounts is None or account in want_accounts
        for kind in kinds
    ]
    listed = in_parallel(
        lambda folder: source.list_dirs(folder[3]), folders, listing_threads(source, workers)
    )
    for (org, account, kind, folder), names in zip(folders, listed, strict=True):
        for region in names:
            if not REGION_RE.fullmatch(region):
                notes.append(Skipped(f"{folder}{region}/", "not a region folder"))
                continue
            regions_seen.add(region)
            if want_regions is None or region in want_regions:
                streams.append(Stream(account, region, kind, org))
    if want_regions is not None and regions_seen and not want_regions <= regions_seen:
        missing = sorted(want_regions - regions_seen)
        scope = " for the accounts asked for" if want_accounts is not None else ""
        raise ConfigError(
            f"--regions {','.join(missing)}: not in {source.display('AWSLogs/')}{scope}; "
            f"the regions there are {shown(sorted(regions_seen))}"
        )
    return streams


@dataclass(frozen=True, slots=True)
class Counted:
    """A day folder of a stream whose objects the caller's test found all done: listed, counted, and no more."""

    day: dt.date
    files: int


#: Whether all of a day's objects (by name) are done; told by the caller of :func:`list_stream_counting`.
DoneTest = Callable[[Stream, dt.date, str, Sequence[str]], bool]


def list_stream(
    source: Source,
    stream: Stream,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    skipped: list[Skipped] | None = None,
) -> Iterator[Listed]:
    """The stream's objects on days ``since``..``until`` (inclusive; open-ended when None), validated."""
    start_after = f"{stream.prefix}{since:%Y/%m/%d}" if since else None
    yield from _validated(source.list_objects(stream.prefix, start_after), stream, since, until, skipped)


def list_stream_counting(
    source: Source,
    stream: Stream,
    done: DoneTest,
    *,
    since: dt.date | None = None,
    until: dt.date | None = None,
    skipped: list[Skipped] | None = None,
) -> Iterator[Listed | Counted]:
    """What :func:`list_stream` lists, but a whole day folder for which ``done(stream, day, path, names)`` says
    yes comes as one :class:`Counted`, its objects never made into refs, parsed or tested one by one: that test
    and :func:`~trailduck.scanner.keys.are_file_names` stand for theirs. Only a source that lists by folder (a
    local one) has such folders; the rest is listed key by key."""
    start_after = f"{stream.prefix}{since:%Y/%m/%d}" if since else None
    if not isinstance(source, FolderSource):
        yield from list_stream(source, stream, since=since, until=until, skipped=skipped)
        return
    for entry in source.list_folders(stream.prefix, start_after):
        if isinstance(entry, ObjectRef):
            yield from _validated((entry,), stream, since, until, skipped)
            continue
        day = folder_day(stream, entry.path)
        in_window = day is not None and (since is None or day >= since) and (until is None or day <= until)
        if day is None or not in_window or not are_file_names(stream, entry.names):
            yield from _validated(source.folder_refs(entry), stream, since, until, skipped)
        elif done(stream, day, entry.path, entry.names):
            yield Counted(day, len(entry.names))
        else:
            # Every name is one of the stream's on this day: each key is what parse_key would make of it, without
            # its dozen steps per key (a first run of an organization's day lists 100,000 of them).
            at = len(entry.path)
            for ref in source.folder_refs(entry):
                if ref.skip_reason:  # it changed since the folder was read: a link, say
                    if skipped is not None:
                        skipped.append(Skipped(ref.key, ref.skip_reason))
                    continue
                yield Listed(ref, TrailKey(stream, day, ref.key[at:]))


def _validated(
    refs: Iterable[ObjectRef],
    stream: Stream,
    since: dt.date | None,
    until: dt.date | None,
    skipped: list[Skipped] | None,
) -> Iterator[Listed]:
    for ref in refs:
        if ref.skip_reason:
            if skipped is not None:
                skipped.append(Skipped(ref.key, ref.skip_reason))
            continue
        try:
            key = parse_key(ref.key)
        except InvalidKeyError as exc:
            if skipped is not None:
                skipped.append(Skipped(ref.key, str(exc)))
            continue
        if key.stream != stream:
            # Same folder, different parsed stream: only possible for a hand-made key. Never mix them.
            if skipped is not None:
                skipped.append(Skipped(ref.key, "does not belong to the folder it was listed in"))
            continue
        if since is not None and key.day < since:
            continue
        if until is not None and key.day > until:
            continue
        yield Listed(ref, key)

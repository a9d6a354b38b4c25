"""The main job: scan a trail, convert what is new, commit the checkpoint, refresh the views.

Order of a run, each step durable before the next:

1. take the lake's lock and roll back whatever an interrupted run left (see :meth:`Lake.recover`);
2. discover the streams and list each from its watermark (or ``--since``), keeping what is not done yet;
3. fetch with a bounded pool of threads, convert, and append to one open Parquet file per partition, in this
   process or, for a large run, in one worker process per core (see :mod:`trailduck.ingestion.pipeline`);
4. publish the Parquet files (fsync, rename); write the commit ahead into the run's marker; commit them to the
   lake's Delta tables (one commit per table, with the run's sequence number as Delta's application
   transaction); save the checkpoint; refresh the DuckDB views.

A file that cannot be converted is quarantined with its reason (kept in the checkpoint, retried on the next
run); the run goes on. Only an error that makes every further step pointless (access denied, a lost source)
stops it.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import asdict, astuple, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from trailduck import crashpoints
from trailduck.convert import native
from trailduck.convert.decode import Limits
from trailduck.errors import ClusterRefusedError, ConfigError, ExitCode, StateError
from trailduck.ingestion import cluster, pipeline
from trailduck.ingestion.pacing import MAX_CONCURRENCY
from trailduck.ingestion.workers import portable, worker_count
from trailduck.lake.folder import Lake
from trailduck.lake.layout import DATASETS, Partitioning, parse_partitioning
from trailduck.lake.lineage import lake_source_keys, save_content_hashes
from trailduck.lake.table import FileFacts, add_records, adopt_files, choose_partitioning, lake_sequence
from trailduck.lake.views import refresh_or_say
from trailduck.lake.writer import discard_tmp_files, facts_by_key
from trailduck.scanner.keys import (
    ACCOUNT_RE,
    REGION_RE,
    InvalidKeyError,
    Kind,
    Stream,
    object_identity,
    parse_key,
)
from trailduck.scanner.listing import (
    Counted,
    Listed,
    Skipped,
    discover_streams,
    in_parallel,
    list_stream_counting,
    listing_threads,
)
from trailduck.scanner.locate import check_layout, nothing_found
from trailduck.scanner.locations import open_source
from trailduck.scanner.source import ObjectRef, Source
from trailduck.state.checkpoint import Checkpoint, Failure, StreamState
from trailduck.state.store import StateStore

if TYPE_CHECKING:
    from distributed import Client

log = logging.getLogger(__name__)


#: The range of days an option may name (CloudTrail began in 2013; the bounds keep date arithmetic safe).
EARLIEST_DAY = dt.date(2000, 1, 1)
LATEST_DAY = dt.date(2999, 12, 31)


@dataclass
class IngestOptions:
    """What to ingest and how. Defaults are those of ``trailduck ingest``."""

    source: str
    lake: Path
    state: Path | None = None
    since: dt.date | None = None
    until: dt.date | None = None
    accounts: list[str] | None = None
    regions: list[str] | None = None
    lookback: int = 2
    concurrency: int = MAX_CONCURRENCY  # at most; each share widens up to its part while that pays
    workers: int | None = None
    keep_event_json: bool = True
    limits: Limits = field(default_factory=Limits)
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    #: "c" or "python" (:data:`trailduck.convert.native.CONVERTERS`); None: $TRAILDUCK_CONVERTER when set, else
    #: C when compiled, else Python (:func:`trailduck.convert.native.choose`).
    converter: str | None = None
    #: A Dask scheduler's address (``tcp://host:8786``): convert on its workers (see
    #: :mod:`trailduck.ingestion.cluster`); None converts on this machine.
    scheduler: str | None = None
    #: ``--partition-by`` of a new lake: "account,region,date" or "date" (:func:`parse_partitioning`); None: the
    #: lake's own, or the default for a new one. An existing lake refuses another (see choose_partitioning).
    partition_by: str | None = None

    def validate(self) -> None:
        if self.partition_by is not None:
            parse_partitioning(self.partition_by)
        if not 0 <= self.lookback <= 3650:
            raise ConfigError(f"--lookback {self.lookback}: give a number of days from 0 to 3650 (default 2)")
        for name, day in (("--since", self.since), ("--until", self.until)):
            if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY:
                raise ConfigError(f"{name} {day}: give a day between {EARLIEST_DAY} and {LATEST_DAY}")
        if not 1 <= self.concurrency <= 256:
            raise ConfigError(
                f"--concurrency {self.concurrency}: give a number from 1 to 256 (default {MAX_CONCURRENCY})"
            )
        if self.workers is not None and not 1 <= self.workers <= 64:
            raise ConfigError(f"--workers {self.workers}: give a number from 1 to 64, or leave it out (auto)")
        if self.profile and self.scheduler:
            raise ConfigError(
                f"--profile {self.profile} names credentials of this machine, and the Dask workers of --scheduler "
                "use their own (an instance or pod role): leave --profile out and give this machine a role or "
                "AWS_PROFILE"
            )
        if self.workers is not None and self.scheduler:
            raise ConfigError(
                f"--workers {self.workers} counts processes on this machine, and --scheduler sends the work to a Dask "
                "cluster's workers: give one or the other"
            )
        if self.since and self.until and self.since > self.until:
            raise ConfigError(f"--since {self.since} is after --until {self.until}; swap them")
        for account in self.accounts or []:
            if not ACCOUNT_RE.fullmatch(account):
                raise ConfigError(f"--accounts: {account!r} is not a 12-digit AWS account id")
        for region in self.regions or []:
            if not REGION_RE.fullmatch(region):
                raise ConfigError(f"--regions: {region!r} is not a region name like us-east-1")


@dataclass
class IngestSummary:
    """What a run did. ``exit_code`` is what the CLI exits with."""

    source: str
    lake: str
    run_id: str
    streams: int = 0
    files_listed: int = 0
    files_new: int = 0
    files_converted: int = 0
    files_failed: int = 0
    files_skipped: int = 0
    workers: int = 1
    #: The Dask scheduler whose workers converted (``workers`` is then their threads); None on this machine.
    scheduler: str | None = None
    #: Which converter did the work: "c" or "python" (:data:`trailduck.convert.native.CONVERTERS`).
    converter: str = native.DEFAULT
    #: Rows added to ``events``; ``insight_events`` those added to ``insights`` (CloudTrail Insights files).
    events: int = 0
    insight_events: int = 0
    bytes_read: int = 0
    partitions_written: int = 0
    parquet_files_written: int = 0
    rolled_back_runs: list[str] = field(default_factory=list)
    #: Interrupted runs that had written their commit ahead, and that this run finished.
    finished_runs: list[str] = field(default_factory=list)
    #: Datasets of a lake in an earlier trailduck's layout that this run made Delta tables of, in place.
    upgraded: list[str] = field(default_factory=list)
    #: The lake's partition columns (:class:`trailduck.lake.layout.Partitioning`).
    partition_by: str = ""
    views_error: str | None = None
    #: Said plainly when there is nothing to do because the source holds no CloudTrail folder yet.
    note: str | None = None
    gone: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    #: Where the time went, in seconds: recovering and listing ("plan"), fetching and converting ("convert"),
    #: publishing the files and saving the checkpoint ("commit"), the DuckDB views ("views").
    phases: dict[str, float] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        return self.events / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def exit_code(self) -> int:
        return ExitCode.QUARANTINED if self.files_failed else ExitCode.OK

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["events_per_s"] = round(self.events_per_s, 1)
        data["duration_s"] = round(self.duration_s, 3)
        data["exit_code"] = self.exit_code
        data["phases"] = {name: round(seconds, 3) for name, seconds in self.phases.items()}
        return data


class Progress(Protocol):
    """Told how much work there is and how it goes; the CLI draws a bar from it."""

    def planned(self, files: int, size: int) -> None: ...

    def advance(self, files: int, events: int, size: int) -> None: ...


class _NoProgress:
    def planned(self, files: int, size: int) -> None:
        pass

    def advance(self, files: int, events: int, size: int) -> None:
        pass


def ingest(
    options: IngestOptions,
    *,
    source: Source | None = None,
    store: StateStore | None = None,
    now: dt.datetime | None = None,
    progress: Progress | None = None,
) -> IngestSummary:
    """Run one ingest. ``source``, ``store`` and ``now`` default to what the options name and the clock."""
    options.validate()
    if not options.scheduler:
        return _ingest(options, source, store, now, progress, None)
    # Connected first: a wrong address is said before anything is listed or locked.
    with cluster.connect(options.scheduler) as client:
        cluster.worker_threads(client)  # a cluster without workers, too
        return _ingest(options, source, store, now, progress, client)


def _ingest(
    options: IngestOptions,
    source: Source | None,
    store: StateStore | None,
    now: dt.datetime | None,
    progress: Progress | None,
    client: Client | None,
) -> IngestSummary:
    started = time.monotonic()
    converter = native.choose(options.converter)
    now = now or dt.datetime.now(dt.UTC)
    progress = progress or _NoProgress()
    lake = Lake(
        options.lake, profile=options.profile, region=options.region, endpoint_url=options.endpoint_url
    )
    store = store or lake.state_store(options.state)
    if source is None:
        source = open_source(
            options.source,
            profile=options.profile,
            region=options.region,
            endpoint_url=options.endpoint_url,
            concurrency=options.concurrency,
        )
    run_id = f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"
    summary = IngestSummary(
        source=source.uri, lake=lake.location, run_id=run_id, converter=converter, scheduler=options.scheduler
    )
    # A wrong source or an --accounts/--regions typo is refused before the lake is created or locked.
    check_layout(source, "ingest")
    skipped: list[Skipped] = []
    streams = discover_streams(
        source,
        accounts=options.accounts,
        regions=options.regions,
        skipped=skipped,
        workers=options.concurrency,
    )
    summary.streams = len(streams)
    if not streams:
        summary.note = nothing_found(source)
    with lake.lock():
        lake_sequence(lake)  # a table trailduck did not make, or a damaged log: refused before anything else
        saved = store.load()
        # No checkpoint: only the files of a first run that died before committing may be here.
        if saved is None and lake.has_data_besides(set(lake.run_markers())):
            raise StateError(
                f"{store.location}: the checkpoint is missing but {lake.location} holds Parquet files; pass "
                "--state with its location, or run `trailduck state rebuild` to rebuild it from the lake "
                "(a fresh start would ingest everything twice)"
            )
        summary.finished_runs, summary.rolled_back_runs = lake.recover(store)
        # Read again only if recovery saved the checkpoint of a run it finished (a checkpoint of 100,000 keys
        # takes a twentieth of a second to read).
        checkpoint = (store.load() if summary.finished_runs else saved) or Checkpoint()
        _check_in_step(lake, store, checkpoint)
        for dataset in DATASETS:
            if adopt_files(lake, dataset):
                summary.upgraded.append(dataset)
        partitioning = choose_partitioning(lake, options.partition_by)
        summary.partition_by = partitioning.name
        work, starts = _plan(lake, source, checkpoint, streams, options, summary, skipped)
        summary.files_new = len(work)
        summary.files_skipped = len(skipped)
        summary.skipped = [{"key": s.key, "reason": s.reason} for s in skipped]
        progress.planned(len(work), sum(item.ref.size for item in work))
        clock = time.monotonic()
        summary.phases["plan"] = clock - started

        with lake.until_committed():
            done, files, facts = _convert_all(
                lake,
                store.location,
                source,
                work,
                options,
                run_id,
                summary,
                progress,
                checkpoint,
                now,
                client,
                partitioning,
            )
            _advance_checkpoint(checkpoint, starts, done, options, now.date())
            checkpoint.record_run(run_id, source.uri, now)
            checkpoint.sequence += 1
            records = add_records(lake, files, facts)
            crashpoints.hit("parquet_written")
            # The commit, written ahead: from here on the run is finished by whoever finds it interrupted. Only
            # by the lake's writer: on S3, a run whose lease was taken over stops here.
            lake.check_lease()
            lake.prepare_commit(run_id, store.location, checkpoint, records, partitioning)
        with lake.after_commit_ahead():
            crashpoints.hit("commit_ahead")
            lake.commit(run_id, checkpoint.sequence, records, partitioning)
            store.save(checkpoint)
        try:
            lake.end_run(run_id)
        except KeyboardInterrupt as exc:
            exc.committed = True  # type: ignore[attr-defined]  # for the CLI's message: nothing to redo
            raise
        summary.phases["commit"] = time.monotonic() - clock - summary.phases["convert"]
        clock = time.monotonic()
        try:
            summary.views_error = refresh_or_say(lake)
        except KeyboardInterrupt as exc:
            exc.committed = True  # type: ignore[attr-defined]
            raise
    summary.failures = [
        {"key": key, "reason": f.reason, "attempts": f.attempts}
        for key, f in sorted(checkpoint.failed.items())
        if f.last_failed == now.isoformat()
    ]
    summary.phases["views"] = time.monotonic() - clock
    summary.duration_s = time.monotonic() - started
    return summary


def _start_day(options: IngestOptions, st: StreamState, known_source: bool) -> dt.date | None:
    """The first day a stream is listed from; None for its whole history."""
    if options.since:
        return options.since
    # A source this lake has never read (a second trail's bucket, an archive) is listed in full: its files are
    # checked against the lake's lineage, so what the lake holds is not converted again.
    return st.watermark if known_source else None


def _plan(
    lake: Lake,
    source: Source,
    checkpoint: Checkpoint,
    streams: list[Stream],
    options: IngestOptions,
    summary: IngestSummary,
    skipped: list[Skipped],
) -> tuple[list[Listed], dict[Stream, dt.date | None]]:
    """The objects to convert in this run, in listing order, and the day each stream was listed from."""
    work: list[Listed] = []
    starts: dict[Stream, dt.date | None] = {}
    queued: set[str] = set()
    seen: dict[str, str] = {}
    known_source = source.uri in checkpoint.sources
    for stream in streams:
        starts[stream] = _start_day(options, checkpoint.stream(stream.prefix), known_source)

    # Killed by a test at the n-th key listed: every key passes the point, one by one.
    crash_listing = crashpoints.armed("listing")
    failed_folders = {key.rpartition("/")[0] + "/" for key in checkpoint.failed}

    def done(stream: Stream, day: dt.date, path: str, names: Sequence[str]) -> bool:
        """Whether every object of a day folder is done, so that the folder is only counted: what the loop below
        makes of each of its objects, asked of the day at once (a quarantined object is retried, a sealed day
        is asked of the lake: those folders go key by key)."""
        if crash_listing or path in failed_folders:
            return False
        st = checkpoint.streams[stream.prefix]
        sealed = st.lineage_before
        if sealed and day < sealed:
            return False
        keys = st.days.get(day)
        return keys is not None and keys.covers(names)

    def listing(stream: Stream) -> tuple[list[Listed | Counted], list[Skipped]]:
        notes: list[Skipped] = []
        return list(
            list_stream_counting(
                source, stream, done, since=starts[stream], until=options.until, skipped=notes
            )
        ), notes

    # Streams listed on a few threads at once (a round trip each), taken in order.
    for stream, (items, notes) in zip(
        streams, in_parallel(listing, streams, listing_threads(source, options.concurrency)), strict=True
    ):
        skipped += notes
        st = checkpoint.stream(stream.prefix)
        start = starts[stream]
        sealed_keys: set[str] = set()
        sealed = st.lineage_before
        if sealed and (start is None or start < sealed):
            # Sealed days: their keys are no longer in the checkpoint; ask the lake what it holds.
            last = sealed - dt.timedelta(days=1)
            if options.until and options.until < last:
                last = options.until
            sealed_keys = lake_source_keys(lake, stream, start, last)
        for item in items:
            if isinstance(item, Counted):
                summary.files_listed += item.files
                continue
            if crash_listing:
                crashpoints.hit("listing")
            summary.files_listed += 1
            key = item.ref.key
            ident = object_identity(key)
            if ident in seen:
                skipped.append(
                    Skipped(key, f"the same log file as {seen[ident]} (one is a decompressed copy)")
                )
                continue
            seen[ident] = key
            if key in checkpoint.failed:
                pass  # quarantined earlier: always retried
            elif sealed and item.key.day < sealed:
                if ident in sealed_keys:
                    continue
            elif st.is_done(item.key.day, item.key.filename):
                continue
            work.append(item)
            queued.add(key)
    # Quarantined files outside the listed window are retried too.
    for key in sorted(checkpoint.failed):
        if key in queued or object_identity(key) in seen:
            continue  # already planned, or its decompressed (or gzipped) twin was listed instead
        try:
            parsed = parse_key(key)
        except InvalidKeyError:  # pragma: no cover - only valid keys are ever quarantined
            continue
        if parsed.stream not in starts:
            continue
        if (options.since and parsed.day < options.since) or (options.until and parsed.day > options.until):
            continue
        work.append(Listed(ObjectRef(key, 0), parsed))
    return work, starts


def _convert_all(
    lake: Lake,
    state_location: str,
    source: Source,
    work: list[Listed],
    options: IngestOptions,
    run_id: str,
    summary: IngestSummary,
    progress: Progress,
    checkpoint: Checkpoint,
    now: dt.datetime,
    client: Client | None,
    partitioning: Partitioning,
) -> tuple[list[Listed], list[str], dict[str, FileFacts]]:
    """Convert, write and publish every planned object; returns those converted, and the data files written
    with what their writers knew of them. Failures go into ``checkpoint``."""
    if client is not None and not portable(source):
        raise ConfigError(f"{source.uri}: this source cannot be read on a Dask cluster's workers")
    lake.begin_run(run_id, state_location)
    try:
        if client is not None:
            summary.workers = cluster.worker_threads(client)
        else:
            summary.workers = worker_count(options.workers, work, source)
        started = time.monotonic()
        result = pipeline.convert(
            work,
            storage=lake.storage,
            run_id=run_id,
            source=source,
            quarantined=frozenset(checkpoint.failed),
            keep_event_json=options.keep_event_json,
            limits=options.limits,
            concurrency=options.concurrency,
            workers=summary.workers,
            advance=progress.advance,
            use_c=summary.converter == native.C,
            client=client,
            partitioning=partitioning,
        )
    except ClusterRefusedError:
        # Refused before any work was sent (a cluster whose workers cannot do it): the run ends here, as its
        # recovery would end it, instead of leaving its marker for the next run to report as rolled back.
        discard_tmp_files(lake.storage, run_id)
        lake.end_run(run_id)
        raise
    summary.phases["convert"] = time.monotonic() - started
    files = lake.storage.publish(result.tmp_files)
    facts = facts_by_key(files, result.tmp_files, result.file_facts)
    save_content_hashes(lake, run_id, result.content_hashes)
    for key in result.gone:
        # Quarantined earlier and now deleted: nothing is left to ingest or retry.
        del checkpoint.failed[key]
        summary.gone.append(key)
        log.warning("%s: no longer exists; dropped from the quarantine", source.display(key))
    for failed in result.failed:
        _quarantine(checkpoint, failed.key, failed.reason, now)
        log.warning("%s; quarantined, retried on the next run", failed.reason)
    summary.files_failed += len(result.failed)
    summary.files_converted = len(result.converted)
    # Insights files go to `insights`, not `events`: counted apart, so each count is the rows its view gained.
    insight_keys = {item.ref.key for item in work if item.key.stream.kind is Kind.INSIGHT}
    summary.insight_events = sum(n for key, n in result.converted.items() if key in insight_keys)
    summary.events = sum(result.converted.values()) - summary.insight_events
    summary.bytes_read = result.bytes_read
    summary.partitions_written = len({partitioning.folder(*astuple(p)) for p in result.partitions})
    summary.parquet_files_written = len(files)
    converted = {object_identity(key) for key in result.converted}
    for key in [k for k in checkpoint.failed if object_identity(k) in converted]:
        del checkpoint.failed[key]  # converted now, or its twin was
    converted_items = [item for item in work if item.ref.key in result.converted]
    return converted_items, files, facts


def _check_in_step(lake: Lake, store: StateStore, checkpoint: Checkpoint) -> None:
    """Refuse a checkpoint older than the lake's tables (restored from a backup, say): it would convert again
    what the tables hold. Never a guess: the user rebuilds it from the lake."""
    sequence = lake_sequence(lake)
    if sequence > checkpoint.sequence:
        raise StateError(
            f"{store.location}: the checkpoint goes with run {checkpoint.sequence} of {lake.location}, whose tables "
            f"hold runs up to {sequence}; it is older than the lake (restored from a backup?). Run "
            "`trailduck state rebuild --force` to rebuild it from the lake"
        )


def _quarantine(checkpoint: Checkpoint, key: str, reason: str, now: dt.datetime) -> None:
    stamp = now.isoformat()
    previous = checkpoint.failed.get(key)
    if previous is None:
        checkpoint.failed[key] = Failure(reason=reason, attempts=1, first_failed=stamp, last_failed=stamp)
    else:
        previous.reason = reason
        previous.attempts += 1
        previous.last_failed = stamp


def _advance_checkpoint(
    checkpoint: Checkpoint,
    starts: dict[Stream, dt.date | None],
    done: list[Listed],
    options: IngestOptions,
    today: dt.date,
) -> None:
    """Record what was done, then seal the days that fell out of the lookback window."""
    for item in done:
        checkpoint.stream(item.key.stream.prefix).mark_done(item.key.day, item.key.filename)
    seal_to = today - dt.timedelta(days=options.lookback)
    if options.until is not None:
        seal_to = min(seal_to, options.until + dt.timedelta(days=1))
    for stream, start in starts.items():
        st: StreamState = checkpoint.stream(stream.prefix)
        # Only a run that listed everything from the watermark on may move it: a --since that leaves a gap
        # after the watermark has not seen the days in that gap.
        if st.watermark is None or start is None or start <= st.watermark:
            st.seal_before(seal_to)
        else:
            st.drop_keys_before(seal_to)  # the watermark stays, the checkpoint stays bounded

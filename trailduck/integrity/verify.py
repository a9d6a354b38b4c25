"""``trailduck verify``: prove that log files are what CloudTrail delivered, from the digest chain, offline.

This module runs it: it lists the digests and log files, reads them in a pool of threads, gets the public
keys, and keeps the verdicts in the lake. :mod:`~trailduck.integrity.chain` judges the digests (signatures,
chains, what they vouch for), :mod:`~trailduck.integrity.logfiles` the log files. Stricter than the AWS CLI
in three ways: the previous digest actually read is checked against ``previousDigestHashValue`` and
``previousDigestSignature``, bytes after the first gzip member are refused (``trailing_data``), and a log
file whose converted copy in the lake came from different bytes is a ``hash_mismatch``.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from trailduck.errors import AwsError, BadObjectError, ConfigError, SourceError, from_aws
from trailduck.integrity.chain import FoundDigest, check_digest, newest_verified, vouchers, walk_chains
from trailduck.integrity.digest import PublicKey, fetch_public_keys, load_public_keys, parse_digest
from trailduck.integrity.logfiles import check_log, check_recorded, missing_log_files, unvouched
from trailduck.integrity.result import Verdict, VerifyResult
from trailduck.lake.folder import Lake
from trailduck.lake.verdicts import Status
from trailduck.scanner.keys import REGION_RE, InvalidKeyError, Kind, digest_name, parse_key
from trailduck.scanner.listing import Skipped, discover_streams, list_stream
from trailduck.scanner.locate import check_layout, nothing_found
from trailduck.scanner.locations import open_source
from trailduck.scanner.source import Source

log = logging.getLogger(__name__)


#: A function returning the public keys CloudTrail used in ``home_region`` between two times; it raises
#: :class:`~trailduck.errors.AwsError` when CloudTrail cannot be asked.
KeyFetcher = Callable[[str, dt.datetime, dt.datetime], list[PublicKey]]


@dataclass(frozen=True)
class VerifyOptions:
    source: str
    since: dt.date | None = None
    until: dt.date | None = None
    public_keys: Path | None = None
    #: Check the files already converted into the lake by the SHA-256 ingest recorded, without reading them
    #: again (only digests and the other files are read). Proves the lake's rows, not the source's bytes.
    trust_lake_hashes: bool = False
    concurrency: int = 16
    profile: str | None = None
    region: str | None = None
    endpoint_url: str | None = None

    def validate(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise ConfigError(f"--since {self.since} is after --until {self.until}; swap them")
        if not 1 <= self.concurrency <= 256:
            raise ConfigError(f"--concurrency {self.concurrency}: give a number from 1 to 256 (default 16)")


def cloudtrail_key_fetcher(profile: str | None = None, endpoint_url: str | None = None) -> KeyFetcher:
    """Public keys from CloudTrail ``ListPublicKeys`` in the trail's home region (one client per region)."""
    import boto3
    import botocore.exceptions

    aws_errors = (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError)
    try:
        session = boto3.Session(profile_name=profile)
    except aws_errors as exc:
        raise from_aws(exc, where="opening an AWS session") from exc

    def fetch(home_region: str, start: dt.datetime, end: dt.datetime) -> list[PublicKey]:
        try:
            client = session.client("cloudtrail", region_name=home_region, endpoint_url=endpoint_url)
            return fetch_public_keys(client, start, end)
        except aws_errors as exc:
            raise from_aws(
                exc,
                where=f"fetching CloudTrail's public keys in {home_region} (ListPublicKeys)",
                action="cloudtrail:ListPublicKeys",
                resource="*",
                next_step="or verify offline with --public-keys FILE, a file holding what "
                f"`aws cloudtrail list-public-keys --region {home_region}` prints",
            ) from exc

    return fetch


def verify(
    options: VerifyOptions,
    *,
    source: Source | None = None,
    key_fetcher: KeyFetcher | None = None,
    converted_hashes: dict[str, str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> VerifyResult:
    """Verify the digests and log files of ``options.source`` on days ``since``..``until`` (all when None).

    ``converted_hashes`` maps a log file key to the SHA-256 of the content ingest converted, for the
    cross-check against the lake. ``progress(done, total)`` is told how many objects have been read.
    """
    started = time.monotonic()
    options.validate()
    source = source or open_source(
        options.source,
        profile=options.profile,
        region=options.region,
        endpoint_url=options.endpoint_url,
        concurrency=options.concurrency,
    )
    check_layout(source, "verify")
    result = VerifyResult(source=source.uri, object_key=source.object_key)
    since, until = options.since, options.until
    # One day either side for context: a digest names its previous (possibly yesterday's), and the files
    # delivered late on ``until`` are listed by a digest of the next day.
    context_since = since - dt.timedelta(days=1) if since else None
    context_until = until + dt.timedelta(days=1) if until else None

    def in_window(day: dt.date) -> bool:
        return _day_in(day, since, until)

    found = _list_digests(source, context_since, context_until, result.skipped)
    log_streams = discover_streams(source, kinds=(Kind.LOG,), skipped=result.skipped)
    if not log_streams:
        result.note = nothing_found(source)
    log_keys = {
        listed.key.key: listed.key
        for stream in log_streams
        for listed in list_stream(source, stream, since=since, until=until, skipped=result.skipped)
    }
    total = len(found) + len(log_keys)
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    with ThreadPoolExecutor(max_workers=options.concurrency) as pool:
        _read_digests(found, source, pool, tick)
        keys, unfetched = _public_keys(options, found.values(), key_fetcher)
        for f in found.values():
            if f.digest is not None:
                check_digest(f, source, keys, unfetched)
        missing = walk_chains(found, source, context_since)
        vouched, named = vouchers(found, source)
        newest = newest_verified(found)
        result.digests = [
            Verdict(f.key.key, f.status, f.detail, f.key.account, f.key.region)
            for key, f in sorted(found.items())
            if in_window(f.key.day)
        ] + [v for v, day in missing if in_window(day)]
        result.digests.sort(key=lambda v: v.key)

        read = _read_log(source)
        recorded = converted_hashes if options.trust_lake_hashes else None

        def check(key: str) -> Verdict:
            # In the pool's threads: a log file is read, hashed and dropped here, so memory holds at most
            # one file per thread, never the trail.
            trail_key = log_keys[key]
            # A local copy may hold x.json, already decompressed, where the digest names x.json.gz.
            claims = vouched.get(key) or (vouched.get(key + ".gz") if key.endswith(".json") else None)
            if not claims:
                return unvouched(trail_key, named.get(key) or named.get(key + ".gz"), newest)
            if recorded is not None and key in recorded:
                return check_recorded(trail_key, recorded[key], claims)
            return check_log(trail_key, read(key), claims, converted_hashes)

        for verdict in pool.map(check, sorted(log_keys)):
            tick()
            result.log_files.append(verdict)
    result.log_files += missing_log_files(vouched, log_keys, found, in_window)
    result.log_files.sort(key=lambda v: v.key)
    result.unvouched_streams = sorted({(k.account, k.region) for k in log_keys.values()} - set(newest))
    result.duration_s = time.monotonic() - started
    return result


def _day_in(day: dt.date, since: dt.date | None, until: dt.date | None) -> bool:
    return (since is None or day >= since) and (until is None or day <= until)


def _list_digests(
    source: Source, since: dt.date | None, until: dt.date | None, skipped: list[Skipped]
) -> dict[str, FoundDigest]:
    """Every digest object on the days listed. One that listing will not read (a symbolic link, a FIFO) is
    still a digest found: it is kept, and reading it fails it (``bad_signature``, unreadable)."""
    found: dict[str, FoundDigest] = {}
    for stream in discover_streams(source, kinds=(Kind.DIGEST,), skipped=skipped):
        not_read: list[Skipped] = []
        listed = [
            (item.ref.key, item.key)
            for item in list_stream(source, stream, since=since, until=until, skipped=not_read)
        ]
        for entry in not_read:
            try:
                key = parse_key(entry.key)
            except InvalidKeyError:
                skipped.append(entry)
                continue
            if key.stream == stream and _day_in(key.day, since, until):
                listed.append((entry.key, key))
            else:
                skipped.append(entry)
        for ref_key, key in sorted(listed):
            try:
                name = digest_name(key)
            except InvalidKeyError as exc:
                skipped.append(Skipped(ref_key, str(exc)))
                continue
            found[ref_key] = FoundDigest(key, name)
    return found


def _read_digests(
    found: dict[str, FoundDigest], source: Source, pool: ThreadPoolExecutor, tick: Callable[[], None]
) -> None:
    """Read and parse every digest found, in ``pool``; one that cannot be read or parsed is ``bad_signature``."""
    for f, (body, signature) in zip(found.values(), pool.map(_read_signed(source), found), strict=True):
        tick()
        f.signature = signature
        if body is None:
            f.status, f.detail = Status.BAD_SIGNATURE, f"unreadable: {signature}"
            continue
        try:
            f.digest = parse_digest(body)
        except BadObjectError as exc:
            f.status, f.detail = Status.BAD_SIGNATURE, f"unreadable: {exc}"


def _read_signed(source: Source) -> Callable[[str], tuple[bytes | None, str | None]]:
    def read(key: str) -> tuple[bytes | None, str | None]:
        try:
            return source.read_signed(key)
        except SourceError as exc:
            return None, str(exc)

    return read


def _read_log(source: Source) -> Callable[[str], bytes | None]:
    def read(key: str) -> bytes | None:
        try:
            return source.read(key)
        except SourceError as exc:
            log.warning("%s", exc)
            return None

    return read


def _public_keys(
    options: VerifyOptions, found: Iterable[FoundDigest], key_fetcher: KeyFetcher | None
) -> tuple[list[PublicKey], dict[str, str]]:
    """The keys to check signatures with, and per home region whose keys could not be fetched, why.

    Home regions come from digest file names, which anyone who can write to the bucket chooses: a bogus one
    makes its own digests ``unknown_key``; only when no region's keys can be fetched does the run stop (the
    reader then lacks the permission or the network, and the message says to use --public-keys)."""
    readable = [f for f in found if f.digest is not None]
    if not readable:
        return [], {}
    if options.public_keys is not None:
        return load_public_keys(options.public_keys), {}
    fetch = key_fetcher or cloudtrail_key_fetcher(options.profile, options.endpoint_url)
    keys: list[PublicKey] = []
    failed: dict[str, str] = {}
    errors: list[AwsError | SourceError] = []
    by_region: dict[str, list[dt.datetime]] = defaultdict(list)
    for f in readable:
        assert f.digest is not None
        by_region[f.name.home_region].append(f.digest.end_time)
    for home_region, times in sorted(by_region.items()):
        if not REGION_RE.fullmatch(home_region):
            failed[home_region] = f"{home_region!r} is not a region name"
            continue
        try:
            keys += fetch(home_region, min(times), max(times))
        except (AwsError, SourceError) as exc:  # a caller's fetcher may say SourceError, as before AwsError
            failed[home_region] = str(exc)
            errors.append(exc)
    if errors and not keys:
        raise errors[0]
    return keys, failed


def lake_hashes(lake: Lake) -> dict[str, str] | None:
    """What ingest converted into ``lake`` (key -> SHA-256), or None when there is no lake there yet."""
    from trailduck.lake.lineage import content_hashes

    return content_hashes(lake) if lake.exists() else None


def keep_result(lake: Lake, result: VerifyResult, now: dt.datetime | None = None) -> None:
    """Store the verdicts in the lake (views ``integrity`` and ``integrity_digests``) and refresh its views."""
    from trailduck.lake.verdicts import save_verdicts
    from trailduck.lake.views import refresh_views

    now = now or dt.datetime.now(dt.UTC)
    lake.create()
    with (
        lake.lock(),
        lake.full_disk_said(
            "the verdicts of this run were not kept (each table is replaced whole or not at all)",
            "run trailduck verify --lake again",
        ),
    ):
        for table, verdicts in (("log_files", result.log_files), ("digests", result.digests)):
            rows = [(v.key, v.account, v.region, v.status, v.detail, v.digest_key) for v in verdicts]
            save_verdicts(lake, table, rows, source=result.source, verified_at=now)
        refresh_views(lake)

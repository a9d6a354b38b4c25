"""``trailduck verify``: prove that log files are what CloudTrail delivered, from the digest chain, offline.

For each (organization, account, region, trail, home region) chain, regular and ``_backfill`` digests apart,
every digest is checked in the AWS CLI's order: location (``moved``), key fingerprint (``unknown_key``), then
signature (``bad_signature``, also for a digest that cannot be read). The chain is then walked newest first:
a verified digest's ``previousDigestS3Object`` must exist (else that key is ``missing``) and its content and
signature must match what the newer digest recorded; a verified digest with no previous while an older one of
its chain exists is a ``gap`` (logging or validation was off). Stricter than the AWS CLI in three ways: the
previous digest actually read is checked against ``previousDigestHashValue`` and ``previousDigestSignature``,
bytes after the first gzip member are refused (``trailing_data``), and a log file whose converted copy in the
lake came from different bytes is a ``hash_mismatch``.

Only ``valid`` and ``gap`` digests vouch for log files. A vouched-for file must be present and hash to the
recorded SHA-256 of its decompressed content; a file nothing vouches for is ``not_yet_covered`` when it was
delivered after the newest verified digest of its account and region (normal on a live trail), else
``unreferenced``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trailduck.convert.decode import Limits, TrailingDataError, decompress
from trailduck.errors import AwsError, BadObjectError, ConfigError, ExitCode, SourceError, from_aws
from trailduck.integrity.digest import (
    Digest,
    PublicKey,
    fetch_public_keys,
    find_key,
    load_public_keys,
    parse_digest,
    string_to_sign,
)
from trailduck.lake.folder import Lake
from trailduck.lake.verdicts import ACCEPTABLE, DIGEST_STATUSES, LOG_STATUSES, Status
from trailduck.scanner.keys import (
    REGION_RE,
    DigestName,
    InvalidKeyError,
    Kind,
    TrailKey,
    digest_name,
    log_minute,
    parse_key,
)
from trailduck.scanner.listing import Skipped, discover_streams, list_stream
from trailduck.scanner.locate import check_layout, nothing_found
from trailduck.scanner.locations import open_source
from trailduck.scanner.source import Source

log = logging.getLogger(__name__)

#: Digests with these statuses vouch for the log files they list.
VOUCHING = frozenset({Status.VALID, Status.GAP})


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


@dataclass(frozen=True, slots=True)
class Verdict:
    """The status of one digest or log file. ``key`` is relative to the source root (``AWSLogs/...``)."""

    key: str
    status: Status
    detail: str
    account: str
    region: str
    #: For a log file: the digest that vouches for it (or names it), if any.
    digest_key: str | None = None

    def to_json(self, object_key: Callable[[str], str]) -> dict[str, str]:
        return {"key": object_key(self.key), "status": self.status, "detail": self.detail}


@dataclass
class VerifyResult:
    source: str
    digests: list[Verdict] = field(default_factory=list)
    log_files: list[Verdict] = field(default_factory=list)
    #: (account, region) pairs with log files but no verified regular digest: validation may be off.
    unvouched_streams: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    #: Said plainly when the source holds no CloudTrail folder yet (nothing to verify is not a pass).
    note: str | None = None
    duration_s: float = 0.0
    object_key: Callable[[str], str] = field(default=lambda key: key, repr=False)

    @property
    def exit_code(self) -> int:
        ok = all(v.status in ACCEPTABLE for v in [*self.digests, *self.log_files])
        return ExitCode.OK if ok else ExitCode.FINDINGS

    def counts(self) -> dict[str, dict[str, int]]:
        def tally(verdicts: list[Verdict], statuses: tuple[Status, ...]) -> dict[str, int]:
            found: dict[str, int] = {s: 0 for s in statuses}
            for v in verdicts:
                found[v.status] += 1
            return found

        return {
            "digests": tally(self.digests, DIGEST_STATUSES),
            "log_files": tally(self.log_files, LOG_STATUSES),
        }

    def problems(self) -> list[tuple[str, Verdict]]:
        """Every entry that fails the run, digests first, with its kind."""
        return [("digest", v) for v in self.digests if v.status not in ACCEPTABLE] + [
            ("log file", v) for v in self.log_files if v.status not in ACCEPTABLE
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "digests": [v.to_json(self.object_key) for v in self.digests],
            "log_files": [v.to_json(self.object_key) for v in self.log_files],
            "note": self.note,
        }


@dataclass
class _Found:
    """A digest object found in the source, and what was learnt about it."""

    key: TrailKey
    name: DigestName
    signature: str | None = None
    digest: Digest | None = None
    status: Status = Status.VALID
    detail: str = ""

    @property
    def chain(self) -> tuple[str | None, str, str, str, str, bool]:
        s = self.key.stream
        return (s.org_id, s.account, s.region, self.name.trail, self.name.home_region, self.name.backfill)


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

    def in_window(key: TrailKey) -> bool:
        return _day_in(key.day, since, until)

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
        keys, unfetched = _public_keys(options, found.values(), key_fetcher)
        for f in found.values():
            if f.digest is not None:
                _check_own(f, source, keys, unfetched)
        missing = _walk_chains(found, source, context_since)
        vouched, named = _vouchers(found, source)
        newest = _newest_verified(found)
        result.digests = [
            Verdict(f.key.key, f.status, f.detail, f.key.account, f.key.region)
            for key, f in sorted(found.items())
            if in_window(f.key)
        ] + [v for v, day in missing if _day_in(day, since, until)]
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
                return _unvouched(trail_key, named.get(key) or named.get(key + ".gz"), newest)
            if recorded is not None and key in recorded:
                return _check_recorded(trail_key, recorded[key], claims)
            return _check_log(trail_key, read(key), claims, converted_hashes)

        for verdict in pool.map(check, sorted(log_keys)):
            tick()
            result.log_files.append(verdict)
    for key, claims in sorted(vouched.items()):
        if key in log_keys or key.removesuffix(".gz") in log_keys:
            continue
        by = found[claims[0][1]].key
        try:
            trail_key: TrailKey | None = parse_key(key)
        except InvalidKeyError:
            trail_key = None  # a name no CloudTrail file has: reported as the digest spells it
        if trail_key is not None and trail_key.kind is not Kind.LOG:
            continue  # an Insights file: not one of the log files verified here
        if _day_in(trail_key.day if trail_key else by.day, since, until):
            result.log_files.append(
                Verdict(
                    key,
                    Status.MISSING,
                    f"listed by digest {claims[0][1]} but not in the source",
                    trail_key.account if trail_key else by.account,
                    trail_key.region if trail_key else by.region,
                    claims[0][1],
                )
            )
    result.log_files.sort(key=lambda v: v.key)
    result.unvouched_streams = sorted({(k.account, k.region) for k in log_keys.values()} - set(newest))
    result.duration_s = time.monotonic() - started
    return result


def _day_in(day: dt.date, since: dt.date | None, until: dt.date | None) -> bool:
    return (since is None or day >= since) and (until is None or day <= until)


def _list_digests(
    source: Source, since: dt.date | None, until: dt.date | None, skipped: list[Skipped]
) -> dict[str, _Found]:
    """Every digest object on the days listed. One that listing will not read (a symbolic link, a FIFO) is
    still a digest found: it is kept, and reading it fails it (``bad_signature``, unreadable)."""
    found: dict[str, _Found] = {}
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
            found[ref_key] = _Found(key, name)
    return found


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
    options: VerifyOptions, found: Iterable[_Found], key_fetcher: KeyFetcher | None
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
    errors: list[AwsError] = []
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
        except AwsError as exc:
            failed[home_region] = str(exc)
            errors.append(exc)
    if errors and not keys:
        raise errors[0]
    return keys, failed


def _check_own(f: _Found, source: Source, keys: list[PublicKey], unfetched: dict[str, str]) -> None:
    """Location, then fingerprint, then signature: the AWS CLI's order."""
    digest = f.digest
    assert digest is not None
    where = source.object_key(f.key.key)
    bucket = source.bucket_name
    if digest.key != where or (bucket is not None and digest.bucket != bucket):
        f.status = Status.MOVED
        named = f"s3://{digest.bucket}/{digest.key}" if bucket is not None else digest.key
        f.detail = f"the digest says it belongs at {named}"
        return
    key = find_key(keys, digest.fingerprint, digest.end_time)
    if key is None and f.name.home_region in unfetched:
        f.status = Status.UNKNOWN_KEY
        f.detail = f"no public keys for home region {f.name.home_region}: {unfetched[f.name.home_region]}"
        return
    if key is None:
        f.status = Status.UNKNOWN_KEY
        f.detail = (
            f"no public key with fingerprint {digest.fingerprint} in use at {digest.data['digestEndTime']}"
        )
        return
    if not f.signature:
        f.status = Status.BAD_SIGNATURE
        f.detail = (
            "no signature (the object has no signature metadata)"
            if bucket is not None
            else "no signature sidecar file (<digest key>.signature)"
        )
        return
    if not key.verify(f.signature, string_to_sign(digest.data, digest.content_hash)):
        f.status = Status.BAD_SIGNATURE
        f.detail = f"the signature does not verify with key {digest.fingerprint}: the digest was altered"
        return
    f.status, f.detail = Status.VALID, ""


def _relative(source: Source, key: str, bucket: str | None) -> str | None:
    """A key as a digest names it, relative to the source root; None when it lies outside the source."""
    if source.bucket_name is not None and bucket and bucket != source.bucket_name:
        return None
    root = source.object_key("")
    return key[len(root) :] if key.startswith(root) else None


def _walk_chains(
    found: dict[str, _Found], source: Source, listed_from: dt.date | None
) -> list[tuple[Verdict, dt.date]]:
    """Newest first per chain: gaps, the previous digest's hash and signature, missing digests (only on the
    days listed, from ``listed_from``: before it, an absent digest was simply not looked for)."""
    chains: dict[tuple[Any, ...], list[_Found]] = defaultdict(list)
    for f in found.values():
        chains[f.chain].append(f)
    by_key = {f.key.key: f for f in found.values()}
    missing: dict[str, tuple[Verdict, dt.date]] = {}
    for members in chains.values():
        members.sort(key=lambda f: f.name.time, reverse=True)
        for i, f in enumerate(members):
            if f.status != Status.VALID or f.digest is None:
                continue  # only a verified digest's claims are trusted
            digest = f.digest
            if digest.previous_key is None:
                older = members[i + 1 :]
                if older:
                    f.status = Status.GAP
                    f.detail = (
                        f"starts a new chain while an older digest exists ({older[0].key.key}): logging or "
                        f"log file validation was off from {_iso(older[0].name.time)} to "
                        f"{digest.data['digestStartTime']}"
                    )
                continue
            previous_rel = _relative(source, digest.previous_key, digest.previous_bucket)
            if previous_rel is None:
                f.detail = (
                    f"its previous digest lies outside this source ({digest.previous_key}); not checked"
                )
                continue
            previous = by_key.get(previous_rel)
            if previous is None:
                try:
                    named = parse_key(previous_rel)
                except InvalidKeyError:
                    named = None
                if named is not None and named.kind is not Kind.DIGEST:
                    f.detail = f"names {previous_rel}, which is not a digest, as its previous digest"
                    continue
                # A key that is not even a digest key cannot be found either: it is reported as named.
                day = named.day if named is not None else f.key.day
                if (listed_from is None or day >= listed_from) and previous_rel not in missing:
                    missing[previous_rel] = (
                        Verdict(
                            previous_rel,
                            Status.MISSING,
                            f"named as the previous digest by {f.key.key}, but not in the source",
                            named.account if named else f.key.account,
                            named.region if named else f.key.region,
                        ),
                        day,
                    )
                continue
            if previous.digest is None or previous.status != Status.VALID:
                continue  # it already has its own, earlier failing status
            mismatch = []
            if previous.digest.content_hash != (digest.previous_hash or "").lower():
                mismatch.append("content hash")
            if (previous.signature or "").strip().lower() != (
                digest.previous_signature or ""
            ).strip().lower():
                mismatch.append("signature")
            if mismatch:
                previous.status = Status.BAD_SIGNATURE
                previous.detail = (
                    f"its {' and '.join(mismatch)} differ from what the next digest {f.key.key} recorded: "
                    "it was replaced"
                )
    return list(missing.values())


def _vouchers(
    found: dict[str, _Found], source: Source
) -> tuple[dict[str, list[tuple[str, str]]], dict[str, tuple[str, Status]]]:
    """Log files vouched for by valid or gap digests (key -> [(hash, digest key)]), and the files named only
    by digests that cannot vouch (key -> (digest key, its status))."""
    vouched: dict[str, list[tuple[str, str]]] = defaultdict(list)
    named: dict[str, tuple[str, Status]] = {}
    for f in found.values():
        if f.digest is None:
            continue
        for entry in f.digest.log_files:
            rel = _relative(source, entry.key, entry.bucket)
            if rel is None:
                continue
            if f.status in VOUCHING:
                vouched[rel].append((entry.hash_value, f.key.key))
            else:
                named.setdefault(rel, (f.key.key, f.status))
    return dict(vouched), named


def _newest_verified(found: dict[str, _Found]) -> dict[tuple[str, str], dt.datetime]:
    """Per (account, region): the end of the newest verified regular digest. Not per organization: a file
    planted under an organization folder must not escape the account's digests."""
    newest: dict[tuple[str, str], dt.datetime] = {}
    for f in found.values():
        if f.status in VOUCHING and f.digest is not None and not f.name.backfill:
            stream = (f.key.account, f.key.region)
            if stream not in newest or f.digest.end_time > newest[stream]:
                newest[stream] = f.digest.end_time
    return newest


def _unvouched(
    key: TrailKey,
    named_by: tuple[str, Status] | None,
    newest: dict[tuple[str, str], dt.datetime],
) -> Verdict:
    if named_by is not None:
        return Verdict(
            key.key,
            Status.UNREFERENCED,
            f"listed only by digest {named_by[0]}, which is {named_by[1]}",
            key.account,
            key.region,
            named_by[0],
        )
    end = newest.get((key.account, key.region))
    try:
        minute = log_minute(key)
    except InvalidKeyError:
        minute = None
    if end is None:
        return Verdict(
            key.key,
            Status.UNREFERENCED,
            "no verified digest at all for its account and region (is log file validation on?)",
            key.account,
            key.region,
        )
    if minute is not None and minute > end:
        return Verdict(
            key.key,
            Status.NOT_YET_COVERED,
            f"delivered after the newest verified digest (which ends {_iso(end)})",
            key.account,
            key.region,
        )
    return Verdict(
        key.key,
        Status.UNREFERENCED,
        f"no valid digest lists it, though digests cover its delivery time (up to {_iso(end)})",
        key.account,
        key.region,
    )


_LOG_LIMITS = Limits()


def _check_log(
    key: TrailKey,
    body: bytes | None,
    claims: list[tuple[str, str]],
    converted_hashes: dict[str, str] | None,
) -> Verdict:
    digest_key = claims[0][1]

    def verdict(status: Status, detail: str) -> Verdict:
        return Verdict(key.key, status, detail, key.account, key.region, digest_key)

    if body is None:
        return verdict(Status.MISSING, f"listed by digest {digest_key} but could not be read")
    try:
        text = decompress(body, _LOG_LIMITS)
    except TrailingDataError:
        return verdict(Status.TRAILING_DATA, "bytes after the first gzip member (CloudTrail writes one)")
    except BadObjectError as exc:
        return verdict(Status.HASH_MISMATCH, f"does not decompress ({exc})")
    actual = hashlib.sha256(text).hexdigest()
    for expected, by in claims:
        if actual != expected:
            return Verdict(
                key.key,
                Status.HASH_MISMATCH,
                f"SHA-256 of its content is {actual}; digest {by} recorded {expected}",
                key.account,
                key.region,
                by,
            )
    converted = (converted_hashes or {}).get(key.key)
    if converted is not None and converted != actual:
        return verdict(
            Status.HASH_MISMATCH,
            f"the lake's rows were converted from different content (SHA-256 {converted}); the file now in the "
            "source matches its digest: re-ingest it",
        )
    return verdict(Status.VALID, "")


def _check_recorded(key: TrailKey, recorded: str, claims: list[tuple[str, str]]) -> Verdict:
    """A file checked by the hash ingest recorded for the content it converted."""
    for expected, by in claims:
        if recorded != expected:
            return Verdict(
                key.key,
                Status.HASH_MISMATCH,
                f"the lake's rows were converted from content with SHA-256 {recorded}; digest {by} recorded "
                f"{expected}",
                key.account,
                key.region,
                by,
            )
    return Verdict(
        key.key, Status.VALID, "checked by the hash recorded at ingest", key.account, key.region, claims[0][1]
    )


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def lake_hashes(lake: Lake) -> dict[str, str] | None:
    """What ingest converted into ``lake`` (key -> SHA-256), or None when there is no lake there yet."""
    from trailduck.lake.lineage import content_hashes

    return content_hashes(lake) if lake.meta_dir.is_dir() else None


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

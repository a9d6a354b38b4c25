"""A deterministic synthetic CloudTrail trail: the demo's data and the test suite's fixtures.

It lays out objects exactly as CloudTrail does (``AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/``),
gzipped ``{"Records": [...]}`` files whose names carry the delivery time, events a few minutes older than their
file (so some land on the previous day), an organization trail, Insights files and digest files. The events
come from :mod:`trailduck.synthetic.events`, the file planted for the detections from
:mod:`trailduck.synthetic.cases`, the one for the example Sigma rules from :mod:`trailduck.synthetic.sigma_cases`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from trailduck.synthetic.cases import PlantedEvent, detection_cases
from trailduck.synthetic.events import EventFactory, Record, rand_suffix
from trailduck.synthetic.sigma_cases import sigma_cases
from trailduck.synthetic.signer import DigestChain, LogFileInfo, SigningKey, demo_signing_key, hourly_digests


class Sink(Protocol):
    """Stores one object; ``metadata`` is its S3 user metadata (a digest's signature)."""

    def __call__(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None: ...


@dataclass
class TrailSpec:
    """What trail to generate. The defaults make a small but varied multi-account trail."""

    accounts: list[str] = field(default_factory=lambda: ["111122223333", "444455556666"])
    org_id: str | None = "o-a1b2c3d4e5"
    org_accounts: list[str] = field(default_factory=lambda: ["777788889999"])
    regions: list[str] = field(default_factory=lambda: ["us-east-1", "eu-west-1"])
    end: dt.date = dt.date(2024, 3, 10)
    days: int = 3
    files_per_day: int = 4
    events_per_file: tuple[int, int] = (5, 40)
    insights: bool = True
    #: Signed hourly digest files for the log files (the ``CloudTrail-Digest`` folders), one chain per stream.
    digests: bool = True
    digest_every: dt.timedelta = dt.timedelta(hours=1)
    #: The key the digests are signed with; None: one generated per process (:func:`demo_signing_key`).
    signing_key: SigningKey | None = None
    #: The bucket name written into the digests (``digestS3Bucket``, ``s3Bucket``).
    bucket: str = "trailduck-demo"
    trail: str = "management"
    #: Also one file of events planted for the detections, matches and near misses (see detection_cases).
    detections: bool = False
    #: Also one file of events planted for the example Sigma rules (see sigma_cases), the day's 07:00 delivery.
    sigma: bool = False
    prefix: str = ""
    seed: int = 7


@dataclass
class GeneratedFile:
    key: str
    body: bytes
    records: list[Record]
    planted: list[PlantedEvent] = field(default_factory=list)
    #: S3 user metadata: a digest's signature.
    metadata: dict[str, str] | None = None


@dataclass
class Manifest:
    """What was generated: enough for a test to know the exact expected lake."""

    files: int = 0
    events: int = 0
    insight_events: int = 0
    digests: int = 0
    keys: list[str] = field(default_factory=list)
    digest_keys: list[str] = field(default_factory=list)
    #: The key the digests were signed with (its ``public_key_list()`` is the ``--public-keys`` file).
    signing_key: SigningKey | None = None
    records_by_key: dict[str, list[Record]] = field(default_factory=dict)
    planted: list[PlantedEvent] = field(default_factory=list)


def log_key(
    account: str,
    region: str,
    delivered: dt.datetime,
    suffix: str,
    org_id: str | None = None,
    kind: str = "CloudTrail",
) -> str:
    org = f"{org_id}/" if org_id else ""
    return (
        f"AWSLogs/{org}{account}/{kind}/{region}/{delivered:%Y/%m/%d}/"
        f"{account}_{kind}_{region}_{delivered:%Y%m%dT%H%MZ}_{suffix}.json.gz"
    )


def encode_log(records: list[Record]) -> bytes:
    """A CloudTrail log object: compact JSON, gzip with a fixed mtime so output is reproducible."""
    text = json.dumps({"Records": records}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return gzip.compress(text, mtime=0)


def generate(spec: TrailSpec) -> Iterator[GeneratedFile]:
    """Every object of the trail, in a deterministic order."""
    rng = random.Random(spec.seed)
    owners: list[tuple[str | None, str]] = [(None, a) for a in spec.accounts]
    if spec.org_id:
        owners += [(spec.org_id, a) for a in spec.org_accounts]
    first = spec.end - dt.timedelta(days=spec.days - 1)
    #: Per stream, the log files delivered, for its digests (written last, after the planted file).
    delivered_logs: dict[tuple[str | None, str, str], list[tuple[dt.datetime, LogFileInfo]]] = {}
    for org, account in owners:
        for region in spec.regions:
            factory = EventFactory(rng, account, region)
            stream_logs = delivered_logs.setdefault((org, account, region), [])
            for offset in range(spec.days):
                day = first + dt.timedelta(days=offset)
                for i in range(spec.files_per_day):
                    minute = (i * 1440 // spec.files_per_day) + rng.randint(
                        0, max(0, 1440 // spec.files_per_day - 1)
                    )
                    delivered = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC) + dt.timedelta(
                        minutes=minute
                    )
                    n = rng.randint(*spec.events_per_file)
                    records = [
                        factory.event(delivered - dt.timedelta(seconds=rng.randint(30, 900)))
                        for _ in range(n)
                    ]
                    key = spec.prefix + log_key(account, region, delivered, rand_suffix(rng), org)
                    body = encode_log(records)
                    stream_logs.append((delivered, log_file_info(key, body, records)))
                    yield GeneratedFile(key, body, records)
                if spec.insights and region == spec.regions[0] and offset % 2 == 0:
                    delivered = dt.datetime.combine(day, dt.time(12, 5), tzinfo=dt.UTC)
                    records = [factory.insight(delivered - dt.timedelta(minutes=5))]
                    key = spec.prefix + log_key(
                        account, region, delivered, rand_suffix(rng), org, kind="CloudTrail-Insight"
                    )
                    yield GeneratedFile(key, encode_log(records), records)
    if spec.detections:
        org, account = owners[0]
        region = spec.regions[0]
        delivered = dt.datetime.combine(spec.end, dt.time(6, 0), tzinfo=dt.UTC)
        planted = detection_cases(rng, account, region, delivered - dt.timedelta(hours=3))
        records = [p.record for p in planted]
        key = spec.prefix + log_key(account, region, delivered, rand_suffix(rng), org)
        body = encode_log(records)
        delivered_logs[(org, account, region)].append((delivered, log_file_info(key, body, records)))
        yield GeneratedFile(key, body, records, planted)
    if spec.sigma:
        org, account = owners[0]
        region = spec.regions[0]
        delivered = dt.datetime.combine(spec.end, dt.time(7, 0), tzinfo=dt.UTC)
        records = [p.record for p in sigma_cases(rng, account, region, delivered - dt.timedelta(hours=4))]
        key = spec.prefix + log_key(account, region, delivered, rand_suffix(rng), org)
        body = encode_log(records)
        delivered_logs[(org, account, region)].append((delivered, log_file_info(key, body, records)))
        yield GeneratedFile(key, body, records)
    if spec.digests:
        yield from _digests(spec, first, delivered_logs)


def _digests(
    spec: TrailSpec,
    first: dt.date,
    delivered_logs: dict[tuple[str | None, str, str], list[tuple[dt.datetime, LogFileInfo]]],
) -> Iterator[GeneratedFile]:
    """One signed chain per stream. Digests end 30 s past the hour, as CloudTrail's do; the first ends just
    after midnight of the first day, the last one before midnight of the last day, so the files delivered after
    it are not yet covered, as on a live trail."""
    start = dt.datetime.combine(first, dt.time(0, 0, 30), tzinfo=dt.UTC) - dt.timedelta(hours=1)
    last = dt.datetime.combine(spec.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    for (org, account, region), files in delivered_logs.items():
        chain = DigestChain(
            spec.signing_key or demo_signing_key(),
            account,
            region,
            spec.trail,
            spec.regions[0],
            spec.bucket,
            prefix=spec.prefix,
            org_id=org,
        )
        for digest in hourly_digests(chain, files, start, last, spec.digest_every):
            yield GeneratedFile(digest.key, digest.body, [], metadata=digest.metadata)


def log_file_info(key: str, body: bytes, records: list[Record]) -> LogFileInfo:
    """What a digest records about a log file: the SHA-256 of its decompressed text and its event times."""
    times = [dt.datetime.fromisoformat(r["eventTime"].replace("Z", "+00:00")) for r in records]
    return LogFileInfo(
        key,
        hashlib.sha256(gzip.decompress(body)).hexdigest(),
        min(times) if times else None,
        max(times) if times else None,
    )


def write_trail(spec: TrailSpec, sink: Sink) -> Manifest:
    """Generate the trail into ``sink`` and return what it holds."""
    manifest = Manifest(signing_key=(spec.signing_key or demo_signing_key()) if spec.digests else None)
    for f in generate(spec):
        sink(f.key, f.body, f.metadata)
        manifest.keys.append(f.key)
        if "/CloudTrail-Digest/" in f.key:
            manifest.digests += 1
            manifest.digest_keys.append(f.key)
            continue
        manifest.files += 1
        manifest.records_by_key[f.key] = f.records
        manifest.planted += f.planted
        if "/CloudTrail-Insight/" in f.key:
            manifest.insight_events += len(f.records)
        else:
            manifest.events += len(f.records)
    return manifest


def folder_sink(root: Path) -> Sink:
    """Write objects as files below ``root`` (the layout ``aws s3 sync`` leaves); a signature goes into the
    sidecar file ``<key>.signature``, where ``trailduck verify`` looks for it in a folder."""

    def put(key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
        if metadata and "signature" in metadata:
            path.with_name(path.name + ".signature").write_text(metadata["signature"] + "\n")

    return put


def s3_sink(client: Any, bucket: str) -> Sink:
    """Upload objects to a bucket through a boto3 client."""

    def put(key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        client.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata or {})

    return put

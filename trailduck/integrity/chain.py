"""The digest chains: each digest's own signature, the links between digests, and what they vouch for.

For each (organization, account, region, trail, home region) chain, regular and ``_backfill`` digests apart,
every digest is checked in the AWS CLI's order: location (``moved``), key fingerprint (``unknown_key``), then
signature (``bad_signature``, also for a digest that cannot be read). The chain is then walked newest first:
a verified digest's ``previousDigestS3Object`` must exist (else that key is ``missing``) and its content and
signature must match what the newer digest recorded; a verified digest with no previous while an older one of
its chain exists is a ``gap`` (logging or validation was off). Only ``valid`` and ``gap`` digests vouch for
log files.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from trailduck.integrity.digest import Digest, PublicKey, find_key, string_to_sign
from trailduck.integrity.result import Verdict
from trailduck.lake.verdicts import Status
from trailduck.scanner.keys import DigestName, InvalidKeyError, Kind, TrailKey, parse_key
from trailduck.scanner.source import Source

#: Digests with these statuses vouch for the log files they list.
VOUCHING = frozenset({Status.VALID, Status.GAP})

#: What the vouching digests recorded for one log file: (SHA-256 of its content, digest key), one per digest.
Claims = list[tuple[str, str]]


@dataclass
class FoundDigest:
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


def check_digest(f: FoundDigest, source: Source, keys: list[PublicKey], unfetched: dict[str, str]) -> None:
    """A read digest's own checks, setting its status: location, then fingerprint, then signature (the AWS
    CLI's order). ``unfetched`` says, per home region whose public keys could not be fetched, why."""
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


def walk_chains(
    found: dict[str, FoundDigest], source: Source, listed_from: dt.date | None
) -> list[tuple[Verdict, dt.date]]:
    """Newest first per chain: gaps, the previous digest's hash and signature, missing digests (only on the
    days listed, from ``listed_from``: before it, an absent digest was simply not looked for)."""
    chains: dict[tuple[Any, ...], list[FoundDigest]] = defaultdict(list)
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
                        f"log file validation was off from {iso(older[0].name.time)} to "
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


def vouchers(
    found: dict[str, FoundDigest], source: Source
) -> tuple[dict[str, Claims], dict[str, tuple[str, Status]]]:
    """Log files vouched for by valid or gap digests (key -> [(hash, digest key)]), and the files named only
    by digests that cannot vouch (key -> (digest key, its status))."""
    vouched: dict[str, Claims] = defaultdict(list)
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


def newest_verified(found: dict[str, FoundDigest]) -> dict[tuple[str, str], dt.datetime]:
    """Per (account, region): the end of the newest verified regular digest. Not per organization: a file
    planted under an organization folder must not escape the account's digests."""
    newest: dict[tuple[str, str], dt.datetime] = {}
    for f in found.values():
        if f.status in VOUCHING and f.digest is not None and not f.name.backfill:
            stream = (f.key.account, f.key.region)
            if stream not in newest or f.digest.end_time > newest[stream]:
                newest[stream] = f.digest.end_time
    return newest


def iso(value: dt.datetime) -> str:
    """A time as the verdicts' details show it (UTC, ``Z``)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

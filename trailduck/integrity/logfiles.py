"""Each log file's verdict, from what the vouching digests recorded for it.

A vouched-for file must be present and hash to the recorded SHA-256 of its decompressed content, in one gzip
member (else ``trailing_data``); a file whose converted copy in the lake came from different bytes is a
``hash_mismatch``. A file nothing vouches for is ``not_yet_covered`` when it was delivered after the newest
verified digest of its account and region (normal on a live trail), else ``unreferenced``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Collection

from trailduck.convert.decode import Limits, TrailingDataError, decompress
from trailduck.errors import BadObjectError
from trailduck.integrity.chain import Claims, FoundDigest, iso
from trailduck.integrity.result import Verdict
from trailduck.lake.verdicts import Status
from trailduck.scanner.keys import InvalidKeyError, Kind, TrailKey, log_minute, parse_key

_LOG_LIMITS = Limits()


def check_log(
    key: TrailKey,
    body: bytes | None,
    claims: Claims,
    converted_hashes: dict[str, str] | None,
) -> Verdict:
    """A vouched-for file read from the source (``body`` None when it could not be read)."""
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


def check_recorded(key: TrailKey, recorded: str, claims: Claims) -> Verdict:
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


def unvouched(
    key: TrailKey,
    named_by: tuple[str, Status] | None,
    newest: dict[tuple[str, str], dt.datetime],
) -> Verdict:
    """A file no vouching digest lists: ``named_by`` is the digest that names it but cannot vouch, if any;
    ``newest`` the end of the newest verified digest per (account, region)."""
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
            f"delivered after the newest verified digest (which ends {iso(end)})",
            key.account,
            key.region,
        )
    return Verdict(
        key.key,
        Status.UNREFERENCED,
        f"no valid digest lists it, though digests cover its delivery time (up to {iso(end)})",
        key.account,
        key.region,
    )


def missing_log_files(
    vouched: dict[str, Claims],
    present: Collection[str],
    found: dict[str, FoundDigest],
    in_window: Callable[[dt.date], bool],
) -> list[Verdict]:
    """The log files vouching digests list but the source lacks (``present`` holds the keys it has), on the
    days ``in_window`` accepts. Insights files, which digests list too, are not log files verified here."""
    missing: list[Verdict] = []
    for key, claims in sorted(vouched.items()):
        if key in present or key.removesuffix(".gz") in present:
            continue
        by = found[claims[0][1]].key
        try:
            trail_key: TrailKey | None = parse_key(key)
        except InvalidKeyError:
            trail_key = None  # a name no CloudTrail file has: reported as the digest spells it
        if trail_key is not None and trail_key.kind is not Kind.LOG:
            continue  # an Insights file: not one of the log files verified here
        if in_window(trail_key.day if trail_key else by.day):
            missing.append(
                Verdict(
                    key,
                    Status.MISSING,
                    f"listed by digest {claims[0][1]} but not in the source",
                    trail_key.account if trail_key else by.account,
                    trail_key.region if trail_key else by.region,
                    claims[0][1],
                )
            )
    return missing

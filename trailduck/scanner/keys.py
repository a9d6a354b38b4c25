"""Parse and format CloudTrail object keys.

Keys are attacker-controlled strings: anybody who can write to the bucket chooses them. Every pattern here is
ASCII-only (``[0-9]``, never ``\\d``, which accepts other scripts' digits), dates are checked against the
calendar, and nothing downstream builds a path or an SQL string from anything but the validated parts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

ACCOUNT_RE = re.compile(r"[0-9]{12}")
ORG_RE = re.compile(r"o-[a-z0-9]{10,32}")
REGION_RE = re.compile(r"[a-z]{2,4}(?:-[a-z]+)+-[0-9]{1,2}")  # us-east-1, us-gov-west-1, eusc-de-east-1
_TS_LOG = r"(?P<ts>[0-9]{8}T[0-9]{4}Z)"
_RAND = r"[A-Za-z0-9]{16}"


class Kind(StrEnum):
    """The three kinds of object CloudTrail delivers, named by their folder under the account."""

    LOG = "CloudTrail"
    INSIGHT = "CloudTrail-Insight"
    DIGEST = "CloudTrail-Digest"


_FILE_RES: dict[Kind, re.Pattern[str]] = {
    Kind.LOG: re.compile(
        rf"(?P<account>[0-9]{{12}})_CloudTrail_(?P<region>[a-z0-9-]+)_{_TS_LOG}_{_RAND}\.json(?:\.gz)?"
    ),
    Kind.INSIGHT: re.compile(
        rf"(?P<account>[0-9]{{12}})_CloudTrail-Insight_(?P<region>[a-z0-9-]+)_{_TS_LOG}_{_RAND}\.json(?:\.gz)?"
    ),
    Kind.DIGEST: re.compile(
        r"(?P<account>[0-9]{12})_CloudTrail-Digest_(?P<region>[a-z0-9-]+)_(?P<trail>[A-Za-z0-9._-]{1,128})_"
        r"(?P<home>[a-z0-9-]+)_(?P<ts>[0-9]{8}T[0-9]{6}Z)(?:_backfill)?\.json(?:\.gz)?"
    ),
}


class InvalidKeyError(ValueError):
    """A key that is not a CloudTrail object key; the message says which part is wrong."""


@dataclass(frozen=True, slots=True)
class Stream:
    """One (organization, account, kind, region) folder: the unit that is listed by date."""

    account: str
    region: str
    kind: Kind = Kind.LOG
    org_id: str | None = None

    @property
    def prefix(self) -> str:
        """The key prefix of this stream relative to the source root, ending in a slash."""
        org = f"{self.org_id}/" if self.org_id else ""
        return f"AWSLogs/{org}{self.account}/{self.kind.value}/{self.region}/"

    def day_prefix(self, day: dt.date) -> str:
        return f"{self.prefix}{day:%Y/%m/%d}/"


@dataclass(frozen=True, slots=True)
class TrailKey:
    """A validated CloudTrail object key, relative to the source root (``AWSLogs/...``)."""

    stream: Stream
    day: dt.date
    filename: str

    @property
    def account(self) -> str:
        return self.stream.account

    @property
    def region(self) -> str:
        return self.stream.region

    @property
    def kind(self) -> Kind:
        return self.stream.kind

    @property
    def key(self) -> str:
        return format_key(self)


def object_identity(key: str) -> str:
    """What makes two objects the same log file: the key without ``.gz``.

    A local copy is sometimes already decompressed (``x.json``); it is the same file as ``x.json.gz`` in the
    bucket, and must not be ingested twice.
    """
    return key.removesuffix(".gz")


@dataclass(frozen=True, slots=True)
class DigestName:
    """What a digest's file name says: its chain (trail, home region, backfill or not) and its time."""

    trail: str
    home_region: str
    time: dt.datetime
    backfill: bool


def digest_name(key: TrailKey) -> DigestName:
    """The parts of a digest key's file name; raises InvalidKeyError for other kinds or a bad timestamp."""
    m = _FILE_RES[Kind.DIGEST].fullmatch(key.filename) if key.kind is Kind.DIGEST else None
    if m is None:
        raise InvalidKeyError(f"{key.filename!r} is not a digest file name")
    try:
        when = dt.datetime.strptime(m.group("ts"), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise InvalidKeyError(f"{key.filename!r}: the timestamp is not a time") from exc
    return DigestName(
        m.group("trail"),
        m.group("home"),
        when,
        key.filename.endswith(("_backfill.json.gz", "_backfill.json")),
    )


def log_minute(key: TrailKey) -> dt.datetime:
    """The delivery minute in a log file's name (UTC); raises InvalidKeyError for a bad timestamp."""
    m = _FILE_RES[key.kind].fullmatch(key.filename) if key.kind is not Kind.DIGEST else None
    if m is None:
        raise InvalidKeyError(f"{key.filename!r} is not a log file name")
    try:
        return dt.datetime.strptime(m.group("ts"), "%Y%m%dT%H%MZ").replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise InvalidKeyError(f"{key.filename!r}: the timestamp is not a time") from exc


def format_key(key: TrailKey) -> str:
    """The inverse of :func:`parse_key`."""
    return f"{key.stream.day_prefix(key.day)}{key.filename}"


def parse_date_parts(year: str, month: str, day: str) -> dt.date:
    """``YYYY``, ``MM``, ``DD`` folder names to a date; raises InvalidKeyError for anything else."""
    if not (
        re.fullmatch(r"[0-9]{4}", year)
        and re.fullmatch(r"[0-9]{2}", month)
        and re.fullmatch(r"[0-9]{2}", day)
    ):
        raise InvalidKeyError(f"date folders {year}/{month}/{day} are not YYYY/MM/DD")
    try:
        return dt.date(int(year), int(month), int(day))
    except ValueError as exc:
        raise InvalidKeyError(f"date folders {year}/{month}/{day} are not a calendar date") from exc


#: What follows ``<account>_<kind>_<region>_`` in a log or insight file's name.
_LOG_TAIL = re.compile(rf"{_TS_LOG}_{_RAND}\.json(?:\.gz)?")


def folder_day(stream: Stream, path: str) -> dt.date | None:
    """The day of ``path`` when it is one of the stream's day folders (``<prefix>YYYY/MM/DD/``), else None."""
    if not path.startswith(stream.prefix):
        return None
    parts = path[len(stream.prefix) :].split("/")
    if len(parts) != 4 or parts[3]:
        return None
    try:
        return parse_date_parts(*parts[:3])
    except InvalidKeyError:
        return None


def are_file_names(stream: Stream, names: Iterable[str]) -> bool:
    """Whether :func:`parse_key` takes every one of ``names`` in a day folder of ``stream`` (a log or insight
    stream): one test of the part the stream fixes and one pattern for the rest, where a key's parse takes a
    dozen steps."""
    if stream.kind is Kind.DIGEST:
        return False
    head = f"{stream.account}_{stream.kind.value}_{stream.region}_"
    at = len(head)
    tail = _LOG_TAIL.fullmatch
    return all(name.startswith(head) and tail(name, at) for name in names)


def parse_key(key: str) -> TrailKey:
    """Parse a key relative to the source root, e.g. ``AWSLogs/1234.../CloudTrail/us-east-1/2024/01/31/x.json.gz``.

    Raises InvalidKeyError with the reason when any part does not validate.
    """
    parts = key.split("/")
    if len(parts) < 8 or parts[0] != "AWSLogs":
        raise InvalidKeyError(
            "not under AWSLogs/<account>/<CloudTrail|CloudTrail-Digest|CloudTrail-Insight>/"
        )
    org_id: str | None = None
    rest = parts[1:]
    if rest[0].startswith("o-"):
        if not ORG_RE.fullmatch(rest[0]):
            raise InvalidKeyError(
                f"organization id {rest[0]!r} is not o- followed by 10-32 lowercase letters/digits"
            )
        org_id, rest = rest[0], rest[1:]
    if len(rest) != 7:
        raise InvalidKeyError("expected <account>/<kind>/<region>/YYYY/MM/DD/<file> after AWSLogs/")
    account, kind_s, region, year, month, day, filename = rest
    if not ACCOUNT_RE.fullmatch(account):
        raise InvalidKeyError(f"account {account!r} is not 12 digits")
    try:
        kind = Kind(kind_s)
    except ValueError as exc:
        raise InvalidKeyError(
            f"folder {kind_s!r} is not CloudTrail, CloudTrail-Digest or CloudTrail-Insight"
        ) from exc
    if not REGION_RE.fullmatch(region):
        raise InvalidKeyError(f"region {region!r} is not a region name like us-east-1")
    date = parse_date_parts(year, month, day)
    m = _FILE_RES[kind].fullmatch(filename)
    if m is None:
        raise InvalidKeyError(f"file name {filename!r} does not match the {kind.value} naming pattern")
    if m.group("account") != account or m.group("region") != region:
        raise InvalidKeyError(f"file name {filename!r} names another account or region than its folder")
    return TrailKey(Stream(account, region, kind, org_id), date, filename)

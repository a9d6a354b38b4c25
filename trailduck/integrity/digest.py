"""CloudTrail digest files: parsing, the string CloudTrail signs, signature checks and public keys.

A digest covers one hour of one (account, region, trail). CloudTrail signs
``digestEndTime \\n digestS3Bucket/digestS3Object \\n hex(SHA-256 of the decompressed digest) \\n
previousDigestSignature`` (the literal ``null`` for the first digest of a chain) with RSA PKCS#1 v1.5 and SHA-256,
and puts the hex signature in the object's metadata (``x-amz-meta-signature``). The public keys come from
CloudTrail ``ListPublicKeys`` (base64 DER, PKCS#1), matched by fingerprint.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from trailduck.convert.decode import Limits, decompress
from trailduck.errors import BadObjectError, ConfigError

#: Keys rotate; a key is looked up with this margin around the digest's time (as the AWS CLI does).
KEY_MARGIN = dt.timedelta(hours=2)

_REQUIRED = (
    "digestPublicKeyFingerprint",
    "digestS3Bucket",
    "digestS3Object",
    "previousDigestSignature",
    "digestEndTime",
    "digestStartTime",
)
#: A digest is small (hashes of an hour's files); anything near this is not a digest.
_DIGEST_LIMITS = Limits(max_decompressed_bytes=256 << 20)


def parse_time(text: Any) -> dt.datetime | None:
    """A CloudTrail time (``2024-03-10T14:01:31Z``) as an aware UTC datetime; None when absent or malformed."""
    if not isinstance(text, str):
        return None
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    except (ValueError, OverflowError):  # an offset can push year 1 or 9999 out of range
        return None


def shifted(when: dt.datetime, delta: dt.timedelta) -> dt.datetime:
    """``when + delta``, clamped to the representable range (digest times are attacker-written)."""
    try:
        return when + delta
    except OverflowError:
        return (
            dt.datetime.max.replace(tzinfo=dt.UTC)
            if delta > dt.timedelta(0)
            else dt.datetime.min.replace(tzinfo=dt.UTC)
        )


@dataclass(frozen=True, slots=True)
class LogFileEntry:
    """One ``logFiles`` item: a log file the digest vouches for."""

    bucket: str
    key: str
    hash_value: str


@dataclass(frozen=True, slots=True)
class Digest:
    """A parsed digest and the facts about its bytes that signing and chaining need."""

    data: dict[str, Any]
    #: SHA-256 (hex) of the decompressed digest: signed by this digest, recorded by the next one.
    content_hash: str
    end_time: dt.datetime
    start_time: dt.datetime
    log_files: tuple[LogFileEntry, ...]

    @property
    def bucket(self) -> str:
        return str(self.data["digestS3Bucket"])

    @property
    def key(self) -> str:
        return str(self.data["digestS3Object"])

    @property
    def fingerprint(self) -> str:
        return str(self.data["digestPublicKeyFingerprint"])

    @property
    def previous_key(self) -> str | None:
        value = self.data.get("previousDigestS3Object")
        return value if isinstance(value, str) and value else None

    @property
    def previous_bucket(self) -> str | None:
        value = self.data.get("previousDigestS3Bucket")
        return value if isinstance(value, str) and value else None

    @property
    def previous_hash(self) -> str | None:
        value = self.data.get("previousDigestHashValue")
        return value if isinstance(value, str) else None

    @property
    def previous_signature(self) -> str | None:
        value = self.data.get("previousDigestSignature")
        return value if isinstance(value, str) else None


def parse_digest(body: bytes) -> Digest:
    """The bytes of a digest object (gzip or already decompressed). Raises BadObjectError when unreadable."""
    text = decompress(body, _DIGEST_LIMITS)  # also refuses data after the first gzip member
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadObjectError(f"not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise BadObjectError("not a JSON object")
    try:
        # JSON escapes can spell lone surrogates, which no output (terminal, JSON, Parquet) can encode.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BadObjectError("holds text that is not valid Unicode (a lone surrogate)") from exc
    missing = [name for name in _REQUIRED if name not in data]
    if missing:
        raise BadObjectError(f"not a digest: no {', '.join(missing)}")
    for name in ("digestS3Bucket", "digestS3Object", "digestPublicKeyFingerprint"):
        if not isinstance(data[name], str):
            raise BadObjectError(f"{name} is not a string")
    end, start = parse_time(data["digestEndTime"]), parse_time(data["digestStartTime"])
    if end is None or start is None:
        raise BadObjectError("digestStartTime or digestEndTime is not a time")
    files = data.get("logFiles")
    files = [] if files is None else files
    if not isinstance(files, list):
        raise BadObjectError("logFiles is not a list")
    entries: list[LogFileEntry] = []
    for item in files:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("s3Object"), str)
            and isinstance(item.get("hashValue"), str)
        ):
            raise BadObjectError("a logFiles entry has no s3Object or hashValue")
        entries.append(
            LogFileEntry(str(item.get("s3Bucket") or ""), item["s3Object"], item["hashValue"].lower())
        )
    return Digest(data, hashlib.sha256(text).hexdigest(), end, start, tuple(entries))


def string_to_sign(data: dict[str, Any], content_hash: str) -> bytes:
    """What CloudTrail signs for a digest (see the module docstring)."""
    previous = data.get("previousDigestSignature")
    return (
        f"{data['digestEndTime']}\n{data['digestS3Bucket']}/{data['digestS3Object']}\n{content_hash}\n"
        f"{'null' if previous is None else previous}"
    ).encode()


@dataclass(frozen=True, slots=True)
class PublicKey:
    """One CloudTrail public key, as ``ListPublicKeys`` returns it."""

    fingerprint: str
    der: bytes
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None

    def covers(self, when: dt.datetime) -> bool:
        """Whether the key was in use at ``when``, with :data:`KEY_MARGIN` either side."""
        if self.valid_from is not None and when < shifted(self.valid_from, -KEY_MARGIN):
            return False
        return self.valid_to is None or when <= shifted(self.valid_to, KEY_MARGIN)

    def verify(self, signature_hex: str, message: bytes) -> bool:
        """True when ``signature_hex`` is this key's SHA256withRSA signature of ``message``."""
        try:
            signature = binascii.unhexlify(signature_hex.strip())
            key = serialization.load_der_public_key(self.der)
        except (binascii.Error, ValueError, UnsupportedAlgorithm):
            return False
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        try:
            key.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return False
        return True


def public_keys_from_json(data: Any, where: str) -> list[PublicKey]:
    """``{"PublicKeyList": [{"Value", "ValidityStartTime", "ValidityEndTime", "Fingerprint"}]}``, as printed by
    ``aws cloudtrail list-public-keys`` (times as ISO text) or returned by boto3 (datetimes)."""
    entries = data.get("PublicKeyList") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: no PublicKeyList; give what `aws cloudtrail list-public-keys` prints")
    keys: list[PublicKey] = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("Fingerprint"), str):
            raise ConfigError(f"{where}: PublicKeyList[{i}] has no Fingerprint")
        value = entry.get("Value")
        try:
            der = value if isinstance(value, bytes) else base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(f"{where}: PublicKeyList[{i}].Value is not base64 ({exc})") from exc
        keys.append(
            PublicKey(
                entry["Fingerprint"].lower(),
                der,
                _key_time(entry.get("ValidityStartTime")),
                _key_time(entry.get("ValidityEndTime")),
            )
        )
    return keys


def _key_time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return parse_time(value)


def load_public_keys(path: Path) -> list[PublicKey]:
    """Read a ``--public-keys`` file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"--public-keys {path}: cannot read ({exc.strerror})") from exc
    except (UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"--public-keys {path}: not JSON ({exc})") from exc
    return public_keys_from_json(data, f"--public-keys {path}")


def fetch_public_keys(client: Any, start: dt.datetime, end: dt.datetime) -> list[PublicKey]:
    """Every key CloudTrail used between ``start`` and ``end`` (widened by the margin), through ``client``
    (a boto3 CloudTrail client in the trail's home region)."""
    keys: list[PublicKey] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {
            "StartTime": shifted(start, -KEY_MARGIN),
            "EndTime": shifted(end, KEY_MARGIN),
        }
        if token:
            kwargs["NextToken"] = token
        page = client.list_public_keys(**kwargs)
        keys += public_keys_from_json({"PublicKeyList": page.get("PublicKeyList", [])}, "ListPublicKeys")
        token = page.get("NextToken")
        if not token:
            return keys


def find_key(keys: Iterable[PublicKey], fingerprint: str, when: dt.datetime) -> PublicKey | None:
    """The key with this fingerprint that was in use at ``when``."""
    for key in keys:
        if key.fingerprint == fingerprint.lower() and key.covers(when):
            return key
    return None

"""Digest files made the way CloudTrail makes them, signed with a key pair we hold.

The S3 test server delivers no digests and has no ``ListPublicKeys``, so the generator (tests, the demo and the
benchmark) signs its own trail with this module, and :func:`SigningKey.public_key_list` prints the matching
``--public-keys`` file. Nothing here is used to verify: :mod:`trailduck.integrity.digest` does that, and must
agree with this module only through the published format.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import gzip
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from trailduck.integrity.digest import string_to_sign

SIGNATURE_ALGORITHM = "SHA256withRSA"


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class SigningKey:
    """An RSA key pair standing in for CloudTrail's regional signing key."""

    private: rsa.RSAPrivateKey
    valid_from: dt.datetime = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    valid_to: dt.datetime | None = None

    @classmethod
    def generate(cls, **kw: Any) -> SigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), **kw)

    @property
    def public_der(self) -> bytes:
        """The public key as CloudTrail publishes it: DER, PKCS#1."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.PKCS1
        )

    @property
    def fingerprint(self) -> str:
        return hashlib.md5(self.public_der, usedforsecurity=False).hexdigest()

    def sign(self, message: bytes) -> str:
        return self.private.sign(message, padding.PKCS1v15(), hashes.SHA256()).hex()

    def public_key_list(self) -> dict[str, Any]:
        """What ``aws cloudtrail list-public-keys`` prints for this key: a valid ``--public-keys`` file."""
        return {
            "PublicKeyList": [
                {
                    "Value": base64.b64encode(self.public_der).decode(),
                    "ValidityStartTime": _iso(self.valid_from),
                    "ValidityEndTime": _iso(self.valid_to),
                    "Fingerprint": self.fingerprint,
                }
            ]
        }


@functools.cache
def demo_signing_key() -> SigningKey:
    """One key per process for generated trails (making a key takes a noticeable fraction of a second)."""
    return SigningKey.generate()


@dataclass(frozen=True, slots=True)
class LogFileInfo:
    """What a digest records about one log file."""

    key: str
    #: SHA-256 (hex) of the decompressed log file.
    hash_value: str
    oldest: dt.datetime | None = None
    newest: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class SignedDigest:
    key: str
    body: bytes
    signature: str

    @property
    def metadata(self) -> dict[str, str]:
        """The object metadata CloudTrail sets (``x-amz-meta-signature`` and its algorithm)."""
        return {"signature": self.signature, "signature-algorithm": SIGNATURE_ALGORITHM}


@dataclass
class DigestChain:
    """The digests of one (account, region, trail, home region) chain, written oldest first."""

    signing_key: SigningKey
    account: str
    region: str
    trail: str
    home_region: str
    bucket: str
    prefix: str = ""
    org_id: str | None = None
    backfill: bool = False
    #: (key, hash of the decompressed digest, signature) of the last digest written; None starts a chain.
    previous: tuple[str, str, str] | None = field(default=None)

    def digest_key(self, end: dt.datetime) -> str:
        org = f"{self.org_id}/" if self.org_id else ""
        suffix = "_backfill" if self.backfill else ""
        return (
            f"{self.prefix}AWSLogs/{org}{self.account}/CloudTrail-Digest/{self.region}/{end:%Y/%m/%d}/"
            f"{self.account}_CloudTrail-Digest_{self.region}_{self.trail}_{self.home_region}_"
            f"{end:%Y%m%dT%H%M%SZ}{suffix}.json.gz"
        )

    def write(self, start: dt.datetime, end: dt.datetime, files: list[LogFileInfo]) -> SignedDigest:
        """The signed digest for the log files delivered from ``start`` to ``end``; it becomes the previous."""
        key = self.digest_key(end)
        times = [t for f in files for t in (f.oldest, f.newest) if t is not None]
        prev = self.previous
        data = {
            "awsAccountId": self.account,
            "digestStartTime": _iso(start),
            "digestEndTime": _iso(end),
            "digestS3Bucket": self.bucket,
            "digestS3Object": key,
            "digestPublicKeyFingerprint": self.signing_key.fingerprint,
            "digestSignatureAlgorithm": SIGNATURE_ALGORITHM,
            "newestEventTime": _iso(max(times)) if times else None,
            "oldestEventTime": _iso(min(times)) if times else None,
            "previousDigestS3Bucket": self.bucket if prev else None,
            "previousDigestS3Object": prev[0] if prev else None,
            "previousDigestHashValue": prev[1] if prev else None,
            "previousDigestHashAlgorithm": "SHA-256" if prev else None,
            "previousDigestSignature": prev[2] if prev else None,
            "logFiles": [
                {
                    "s3Bucket": self.bucket,
                    "s3Object": f.key,
                    "hashValue": f.hash_value,
                    "hashAlgorithm": "SHA-256",
                    "newestEventTime": _iso(f.newest),
                    "oldestEventTime": _iso(f.oldest),
                }
                for f in files
            ],
        }
        text = json.dumps(data, indent=1).encode()
        content_hash = hashlib.sha256(text).hexdigest()
        signature = self.signing_key.sign(string_to_sign(data, content_hash))
        self.previous = (key, content_hash, signature)
        return SignedDigest(key, gzip.compress(text, mtime=0), signature)


def hourly_digests(
    chain: DigestChain,
    files: list[tuple[dt.datetime, LogFileInfo]],
    first: dt.datetime,
    last: dt.datetime,
    every: dt.timedelta = dt.timedelta(hours=1),
) -> list[SignedDigest]:
    """A digest for every period from ``first`` while its end is not after ``last``, each listing the files
    delivered in it (``files`` pairs a delivery time with the file); periods without files get an empty
    ``logFiles``, as CloudTrail's do."""
    digests: list[SignedDigest] = []
    start = first
    while start + every <= last:
        end = start + every
        digests.append(chain.write(start, end, [f for when, f in files if start <= when < end]))
        start = end
    return digests

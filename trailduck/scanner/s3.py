"""The S3 source through boto3. Its errors become trailduck errors in :func:`trailduck.errors.from_aws`."""

from __future__ import annotations

import http.client
import logging
import random
import time
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions
import urllib3.exceptions
from botocore.config import Config

from trailduck.errors import ConfigError, from_aws, is_transient
from trailduck.scanner.source import ObjectRef

log = logging.getLogger(__name__)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` to ``("bucket", "some/prefix/")``; the prefix is empty or ends in ``/``."""
    rest = uri[len("s3://") :]
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise ConfigError(f"{uri}: no bucket name; write s3://bucket or s3://bucket/prefix")
    # A prefix at or below AWSLogs/ is accepted here: check_layout names the location above it.
    prefix = prefix.strip("/")
    return bucket, f"{prefix}/" if prefix else ""


def make_client(
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    max_pool_connections: int = 16,
) -> Any:
    """An S3 client from the standard credential chain, with standard-mode retries."""
    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except botocore.exceptions.ProfileNotFound as exc:
        raise from_aws(exc, where="opening an S3 client", source=True) from exc
    config = Config(
        retries={"mode": "standard", "total_max_attempts": 8},
        max_pool_connections=max(10, max_pool_connections),
        connect_timeout=10,
        read_timeout=60,
    )
    return session.client("s3", endpoint_url=endpoint_url, config=config)


class S3Source:
    """Lists and reads ``s3://bucket/prefix``."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        read_attempts: int = 5,
        backoff_base: float = 0.25,
        backoff_cap: float = 8.0,
        opened_with: dict[str, Any] | None = None,
    ) -> None:
        self.client = client
        #: The :func:`make_client` arguments the client was made with, when known: a worker process then opens
        #: its own client the same way (clients cannot cross processes). None keeps the source in-process.
        self.opened_with = opened_with
        self.bucket = bucket
        self.prefix = prefix
        self.read_attempts = read_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap

    def __reduce__(self) -> tuple[Any, ...]:
        if self.opened_with is None:
            raise TypeError("an S3Source made from a caller's client cannot be reopened in another process")
        options = (self.read_attempts, self.backoff_base, self.backoff_cap)
        return (_reopen, (self.opened_with, self.bucket, self.prefix, options))

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def display(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def _list_pages(self, prefix: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        full = self.prefix + prefix
        try:
            yield from paginator.paginate(Bucket=self.bucket, Prefix=full, **kwargs)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise from_aws(
                exc,
                where=f"listing {self.display(prefix)}",
                action="s3:ListBucket",
                resource=f"arn:aws:s3:::{self.bucket}",
                source=True,
            ) from exc

    def list_dirs(self, prefix: str) -> list[str]:
        names: list[str] = []
        full = self.prefix + prefix
        for page in self._list_pages(prefix, Delimiter="/"):
            for cp in page.get("CommonPrefixes", []):
                names.append(cp["Prefix"][len(full) :].rstrip("/"))
        return names

    def list_objects(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectRef]:
        kwargs: dict[str, Any] = {}
        if start_after is not None:
            kwargs["StartAfter"] = self.prefix + start_after
        cut = len(self.prefix)
        for page in self._list_pages(prefix, **kwargs):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/"):
                    continue  # a zero-byte "folder" object made by a console or sync tool
                yield ObjectRef(key[cut:], int(obj.get("Size", 0)), obj.get("ETag"))

    @property
    def bucket_name(self) -> str | None:
        return self.bucket

    def object_key(self, key: str) -> str:
        """The key in the bucket (with the source's prefix)."""
        return self.prefix + key

    def read(self, key: str) -> bytes:
        return self._get(key)[0]

    def read_signed(self, key: str) -> tuple[bytes, str | None]:
        """The object and its CloudTrail signature (user metadata ``signature``), if it has one."""
        body, metadata = self._get(key)
        return body, metadata.get("signature")

    def _get(self, key: str) -> tuple[bytes, dict[str, str]]:
        """GET and read the whole body, retrying both together.

        botocore retries a failed request (503 SlowDown, 500, a reset connection) but not a body that breaks
        off while being read; a truncated body must never be mistaken for a complete object, so the whole
        get-and-read is retried with exponential backoff and jitter.
        """
        full = self.prefix + key
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self.client.get_object(Bucket=self.bucket, Key=full)
                return resp["Body"].read(), dict(resp.get("Metadata") or {})
            except _READ_ERRORS as exc:
                if attempt < self.read_attempts and is_transient(exc):
                    delay = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
                    log.info("%s: %s; retrying in %.2f s", self.display(key), exc, delay)
                    time.sleep(delay * (0.5 + random.random() / 2))
                    continue
                raise from_aws(
                    exc,
                    where=f"reading {self.display(key)}",
                    action="s3:GetObject",
                    resource=f"arn:aws:s3:::{self.bucket}/{full}",
                    source=True,
                    if_denied="and kms:Decrypt on the trail's key if the bucket is KMS-encrypted",
                ) from exc


def _reopen(
    opened_with: dict[str, Any], bucket: str, prefix: str, options: tuple[int, float, float]
) -> S3Source:
    attempts, base, cap = options
    client = make_client(**opened_with)
    return S3Source(
        client,
        bucket,
        prefix,
        read_attempts=attempts,
        backoff_base=base,
        backoff_cap=cap,
        opened_with=opened_with,
    )


_READ_ERRORS: tuple[type[Exception], ...] = (
    botocore.exceptions.ClientError,
    botocore.exceptions.BotoCoreError,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)

"""The checkpoint on S3, and the two S3 calls it shares with the lake's lease: a whole-object read that keeps
the ETag, and a conditional PUT.

S3 has no rename, but a PUT replaces an object atomically, and a conditional one (``If-Match`` the ETag this
process read, or ``If-None-Match: *`` when it read nothing) is refused with a 412 when another writer got there
first. That is optimistic concurrency: a writer that lost the race is told so and overwrites nothing.

The client is the caller's (:func:`trailduck.scanner.s3.make_client`), whose retry configuration retries
throttling, 5xx answers and broken connections; nothing here retries on its own.
"""

from __future__ import annotations

import datetime as dt
import http.client
import logging
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
import urllib3.exceptions

from trailduck import crashpoints
from trailduck.errors import AwsFault, StateError, aws_fault, aws_retried, from_aws
from trailduck.state.checkpoint import Checkpoint
from trailduck.state.store import decode, encode

log = logging.getLogger(__name__)

#: What a boto3 call and the reading of its body raise: an AWS error answer, botocore's own errors, or a
#: connection that broke while the body was read.
_AWS_ERRORS: tuple[type[Exception], ...] = (
    botocore.exceptions.ClientError,
    botocore.exceptions.BotoCoreError,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


@dataclass(frozen=True)
class StoredObject:
    """A whole object as read: its bytes, its ETag (the condition for replacing it) and when it was written."""

    body: bytes
    etag: str
    last_modified: dt.datetime


def read_object(client: Any, bucket: str, key: str, *, what: str) -> StoredObject | None:
    """``s3://bucket/key`` read whole, or None when there is no such object. ``what`` names it in messages
    (``"the checkpoint"``)."""
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        body = response["Body"].read()
    except _AWS_ERRORS as exc:
        if aws_fault(exc) is AwsFault.NOT_FOUND:
            return None
        raise from_aws(
            exc,
            where=f"reading {what} s3://{bucket}/{key}",
            action="s3:GetObject",
            resource=f"arn:aws:s3:::{bucket}/{key}",
        ) from exc
    modified = response.get("LastModified") or dt.datetime.now(dt.UTC)
    return StoredObject(body, str(response["ETag"]), modified.astimezone(dt.UTC))


def put_if(client: Any, bucket: str, key: str, body: bytes, *, etag: str | None, what: str) -> str | None:
    """PUT ``body`` at ``s3://bucket/key`` if the object there is still the one with ``etag`` (None: if there
    is no object). The new object's ETag; None when the condition did not hold: another writer replaced,
    deleted or first created the object, and nothing was written. Any other failure is a trailduck error.

    botocore retries a PUT whose answer it did not get (a reset connection, a 500), and the first attempt may
    have been written all the same: its retry is then refused because of this very write. So a refusal that
    came after a retry is checked by reading the object back: if it holds exactly ``body``, the write was ours
    and succeeded. Another writer's bytes differ (a checkpoint carries its time, a lease its owner), and were
    they the same, the object would hold what this call meant to write in any case.
    """
    condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
    try:
        response = client.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="application/json", **condition
        )
    except _AWS_ERRORS as exc:
        fault = aws_fault(exc)
        # A 404 answers If-Match when the object is gone: its ETag cannot match either.
        if fault is AwsFault.CONFLICT or (fault is AwsFault.NOT_FOUND and etag is not None):
            if aws_retried(exc):
                current = read_object(client, bucket, key, what=what)
                if current is not None and current.body == body:
                    log.info(
                        "s3://%s/%s: a retried write was refused because its first try had landed",
                        bucket,
                        key,
                    )
                    return current.etag
            return None
        raise from_aws(
            exc,
            where=f"writing {what} s3://{bucket}/{key}",
            action="s3:PutObject",
            resource=f"arn:aws:s3:::{bucket}/{key}",
        ) from exc
    return str(response["ETag"])


class S3StateStore:
    """The checkpoint as one object, ``s3://bucket/key``, replaced only if it is still the one this store read.

    :meth:`save` after :meth:`load` replaces the checkpoint that load read (``If-Match`` its ETag); a save
    without a checkpoint read (none was there, or none was loaded) creates it only if there is none
    (``If-None-Match: *``). Each save moves the expected ETag to the object it wrote.
    """

    def __init__(self, client: Any, bucket: str, key: str) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        #: The ETag of the checkpoint last read or written; None: there was none, or none was read.
        self._etag: str | None = None

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def load(self) -> Checkpoint | None:
        stored = read_object(self.client, self.bucket, self.key, what="the checkpoint")
        self._etag = stored.etag if stored is not None else None
        return decode(stored.body, self.location) if stored is not None else None

    def save(self, checkpoint: Checkpoint) -> None:
        body = encode(checkpoint)
        crashpoints.hit("state_commit")
        etag = put_if(self.client, self.bucket, self.key, body, etag=self._etag, what="the checkpoint")
        if etag is None:
            read = "the one this process read" if self._etag is not None else "none, as this process found"
            raise StateError(
                f"{self.location}: another writer changed the checkpoint since this process read it (expected "
                f"{read}); nothing was overwritten and this run's checkpoint was not saved. Check that no other "
                "trailduck is writing to the same lake, then run again"
            )
        self._etag = etag

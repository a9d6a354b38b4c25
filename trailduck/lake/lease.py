"""The single-writer lock of a lake on S3: a lease, ``<prefix>/_trailduck/lease.json``.

S3 has no flock, and no process that dies lets go of anything. A writer therefore holds a lease: an object
that names it (owner, host, pid) and says until when it holds the lake. It is created only if there is none
(``If-None-Match: *``), renewed only if it is still the one this process wrote (``If-Match`` its ETag), and
taken over once expired only if it is still the expired one that was read (``If-Match`` again): of two
processes taking over the same lease at once, exactly one wins, and the other is told the lake is held.

Timing. The lease lasts ``ttl`` (10 minutes by default) and :meth:`S3Lease.held` renews it every ``ttl / 3``
(about 3 minutes), so a dead writer's lease is taken over at most ``ttl`` (10 minutes) after its last renewal;
at once by a process on the same machine (the same kernel boot and pid namespace, so never across containers)
when the holder's pid no longer runs there.
A writer whose renewal fails (S3 unreachable) keeps trying; one whose lease was taken over (it was presumed
dead: stopped, or cut off for longer than the ttl) learns it from the next renewal, and
:meth:`S3Lease.check`, which the writer calls before it commits, then raises, as it does once the lease
expired without a renewal, taken over yet or not.

Clocks. Expiry compares the clock of the process taking over with the ``expires`` the holder wrote by its own
clock. The two clocks must agree within a small fraction of the ttl (seconds, as NTP keeps them, against
minutes): a taker whose clock runs ahead by more would take over a live lease early.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

from trailduck.errors import AwsFault, LakeError, TrailduckError, aws_fault, from_aws
from trailduck.state.s3store import StoredObject, put_if, read_object

log = logging.getLogger(__name__)

DEFAULT_TTL = dt.timedelta(minutes=10)
_WHAT = "the lake's lease"
#: How many times :meth:`S3Lease.acquire` looks again when the lease changed between its calls (released, or
#: taken over by another process): a few, since each change is another process's whole acquire or release.
_ROUNDS = 3


@dataclass(frozen=True)
class LeaseRecord:
    """What the lease object says: who holds the lake, and until when."""

    owner: str
    host: str
    pid: int
    acquired: dt.datetime
    expires: dt.datetime
    #: Which kernel and pid namespace the pid belongs to (see :func:`_machine`); empty where unknown.
    machine: str = ""

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "owner": self.owner,
                "host": self.host,
                "pid": self.pid,
                "machine": self.machine,
                "acquired": self.acquired.astimezone(dt.UTC).isoformat(),
                "expires": self.expires.astimezone(dt.UTC).isoformat(),
            }
        ).encode("utf-8")

    @classmethod
    def parse(cls, body: bytes) -> LeaseRecord | None:
        """The record in ``body``; None when it is not one (cut short, written by something else)."""
        try:
            data = json.loads(body)
            acquired = dt.datetime.fromisoformat(data["acquired"])
            expires = dt.datetime.fromisoformat(data["expires"])
            if acquired.tzinfo is None or expires.tzinfo is None:
                return None
            return cls(
                str(data["owner"]),
                str(data["host"]),
                int(data["pid"]),
                acquired,
                expires,
                str(data.get("machine") or ""),
            )
        except (ValueError, TypeError, KeyError):
            return None


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _said(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _machine() -> str:
    """This kernel's boot id and this process's pid namespace: a pid means the same process only where both
    agree (two containers on one host, even with the same host name, have pid namespaces of their own). Empty
    where they cannot be read (not Linux): then a lease is only ever taken over once expired."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            boot = fh.read().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return ""
    return f"{boot}/{namespace}"


def _running(pid: int) -> bool:
    """Whether a process with this pid runs on this machine (as any user)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:  # pragma: no cover - where kill(pid, 0) is not available: assume it runs
        return True
    return True


def _span(length: dt.timedelta) -> str:
    """``10 minutes``, ``90 s``: a ttl as a message says it."""
    seconds = length.total_seconds()
    return f"{seconds / 60:g} minutes" if seconds >= 60 and seconds % 60 == 0 else f"{seconds:g} s"


class S3Lease:
    """The lease ``s3://bucket/key`` for one writer. Use :meth:`held`, or :meth:`acquire`, :meth:`renew` and
    :meth:`release` directly; ``clock`` (a UTC-aware now) is for tests."""

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        *,
        ttl: dt.timedelta = DEFAULT_TTL,
        clock: Callable[[], dt.datetime] | None = None,
        owner: str | None = None,
    ) -> None:
        self.client = client
        self.bucket = bucket
        self.key = key
        self.ttl = ttl
        self.clock = clock or _utc_now
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.machine = _machine()
        self.owner = owner or f"{self.host}:{self.pid}:{secrets.token_hex(8)}"
        self._record: LeaseRecord | None = None  # what this process last wrote, while it holds the lease
        self._etag: str | None = None
        self._lost: LakeError | None = None
        #: Renewal (the thread) and release (the caller) each read and replace the ETag: one at a time.
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def lost(self) -> bool:
        """Whether a renewal found the lease taken over by another process."""
        return self._lost is not None

    # -- taking and keeping it -----------------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the lease: create it, or take it over once expired. Raises LakeError naming the holder."""
        seen: StoredObject | None = None
        for _ in range(_ROUNDS):
            expected = None
            if seen is not None:
                if not self._expired(seen):
                    break
                expected = seen.etag  # expired: replace exactly that one, or lose to who did
                holder = LeaseRecord.parse(seen.body)
                log.warning(
                    "%s: taking over an expired lease (%s)",
                    self.location,
                    f"pid {holder.pid} on {holder.host}, expired {_said(holder.expires)}"
                    if holder
                    else "unreadable",
                )
            now = self.clock()
            record = LeaseRecord(self.owner, self.host, self.pid, now, now + self.ttl, self.machine)
            etag = put_if(self.client, self.bucket, self.key, record.to_bytes(), etag=expected, what=_WHAT)
            if etag is not None:
                with self._lock:
                    self._record, self._etag, self._lost = record, etag, None
                return
            seen = read_object(self.client, self.bucket, self.key, what=_WHAT)
        raise self._held_by(seen)

    def renew(self) -> None:
        """Move the lease's expiry to now + ttl. Raises LakeError when it was lost (taken over)."""
        with self._lock:
            if self._record is None or self._etag is None:
                raise LakeError(
                    f"{self.location}: this process does not hold the lake's lease; acquire it first"
                )
            if self._lost is not None:
                raise self._lost
            record = LeaseRecord(
                self.owner, self.host, self.pid, self._record.acquired, self.clock() + self.ttl, self.machine
            )
            etag = put_if(self.client, self.bucket, self.key, record.to_bytes(), etag=self._etag, what=_WHAT)
            if etag is None:
                self._lost = LakeError(
                    f"{self.location}: this process lost the lake's lease: another process took it over or "
                    "deleted it, presuming this one dead (stopped, or cut off from S3, for longer than the lease's "
                    f"{_span(self.ttl)}); this run must stop without committing. Run again once the other writer "
                    "is done"
                )
                raise self._lost
            self._record, self._etag = record, etag

    def check(self) -> None:
        """Raise LakeError unless this process still holds the lease with a third of its ttl to go: before
        committing, call this. A lease about to expire unrenewed counts as lost, whether or not another process
        took it over yet: the commit that follows must end well before anyone may take the lease over."""
        # No lock: a renewal in flight may hold it for as long as S3 takes to answer, and the two fields read
        # here are each replaced whole.
        lost, record = self._lost, self._record
        if lost is not None:
            raise lost
        if record is None:
            raise LakeError(f"{self.location}: this process does not hold the lake's lease; acquire it first")
        # A margin: what follows the check (a commit) must end well before anyone may take the lease over.
        if self.clock() >= record.expires - self.ttl / 3:
            raise LakeError(
                f"{self.location}: the lake's lease expires at {_said(record.expires)} and was not renewed "
                "(S3 unreachable, or this process was stopped), so another process may hold it now; this run "
                "must stop without committing. Run again"
            )

    def release(self) -> None:
        """Delete the lease if it is still this process's; leave it alone if it is not (taken over)."""
        self._stop_renewing()
        with self._lock:
            if self._record is None:
                return
            self._record = None
            current = read_object(self.client, self.bucket, self.key, what=_WHAT)
            holder = LeaseRecord.parse(current.body) if current is not None else None
            if current is None or holder is None or holder.owner != self.owner:
                log.warning("%s: the lease is no longer this process's; left as it is", self.location)
                return
            self._delete(current.etag)

    @contextmanager
    def held(self) -> Iterator[S3Lease]:
        """Acquire the lease, renew it every ttl/3 in a daemon thread, and release it on the way out. Call
        :meth:`check` before committing: it raises if the lease was lost meanwhile."""
        self.acquire()
        self._stop.clear()
        self._thread = threading.Thread(target=self._renew_until_stopped, name="trailduck-lease", daemon=True)
        self._thread.start()
        try:
            yield self
        except BaseException:
            try:
                self.release()
            except TrailduckError as exc:  # the body's error matters more; the lease expires in any case
                log.warning(
                    "%s: could not release the lease (%s); it expires within %s",
                    self.location,
                    exc,
                    _span(self.ttl),
                )
            raise
        self.release()

    # -- helpers --------------------------------------------------------------------------------------------
    def _renew_until_stopped(self) -> None:
        interval = self.ttl.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                self.renew()
            except LakeError:
                log.error("%s: the lake's lease was lost to another process", self.location)
                return
            except TrailduckError as exc:  # S3 unreachable: try again; check() fails once the lease expires
                log.warning(
                    "%s: renewing the lease failed (%s); trying again in %.0f s", self.location, exc, interval
                )

    def _stop_renewing(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _delete(self, etag: str) -> None:
        """Delete the lease if it is still the object with ``etag``.

        ``DeleteObject`` takes ``If-Match``: botocore's S3 model has the parameter (1.44 here); AWS honours it on
        general purpose buckets since September 2025, and moto 5.2 checks it (412 when the ETag differs, 404
        when the object is gone). So a lease taken over between the read in :meth:`release` and this delete
        survives it. An S3-compatible store that ignores the header deletes unconditionally: the owner compared
        in :meth:`release` is then the only guard, and the window between the two calls is milliseconds.
        """
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key, IfMatch=etag)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            if aws_fault(exc) in (AwsFault.CONFLICT, AwsFault.NOT_FOUND):
                log.warning("%s: the lease was taken over just now; left as it is", self.location)
                return
            raise from_aws(
                exc,
                where=f"deleting {_WHAT} {self.location}",
                action="s3:DeleteObject",
                resource=f"arn:aws:s3:::{self.bucket}/{self.key}",
                next_step=f"it expires by itself within {_span(self.ttl)}",
            ) from exc

    def _expired(self, seen: StoredObject) -> bool:
        """Whether the lease ``seen`` may be taken over: it expired, or its holder ran on this very machine and
        is gone (a job killed here and run again at once need not wait for the ttl; a live process with that
        pid, or another host, always waits)."""
        record = LeaseRecord.parse(seen.body)
        if (
            record is not None
            and record.machine
            and record.machine == self.machine
            and not _running(record.pid)
        ):
            return True
        # An unreadable lease has no expiry to read: it counts as written when S3 last stored it.
        expires = record.expires if record is not None else seen.last_modified + self.ttl
        return self.clock() >= expires

    def _held_by(self, seen: StoredObject | None) -> LakeError:
        record = LeaseRecord.parse(seen.body) if seen is not None else None
        if record is not None:
            who = f"another trailduck process (pid {record.pid} on {record.host})"
            until = record.expires
        elif seen is not None:
            who = "a process that wrote an unreadable lease"
            until = seen.last_modified + self.ttl
        else:
            return LakeError(
                f"{self.location}: the lake's lease kept changing hands while this process tried to take it; "
                "another trailduck is starting on this lake. Wait for it to finish, then run again"
            )
        return LakeError(
            f"{self.location}: {who} is writing to this lake; its lease expires at {_said(until)} unless it "
            "renews it. Wait for it to finish, or check that no other ingest is scheduled at the same time; if "
            f"that process is dead, run again after {_said(until)}, when its lease can be taken over"
        )

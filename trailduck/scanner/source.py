"""The trail source: where CloudTrail objects are listed and read from.

Two implementations share this small interface, so that everything after listing is the same code:
:class:`~trailduck.scanner.s3.S3Source` for ``s3://bucket[/prefix]`` and
:class:`~trailduck.scanner.local.LocalSource` for a folder laid out like the bucket;
:func:`trailduck.scanner.locations.open_source` picks one from what the user typed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """One listed object. ``key`` is relative to the source root and starts with ``AWSLogs/``."""

    key: str
    size: int
    etag: str | None = None
    #: Set when the entry is listed but must not be read (a symbolic link, a FIFO): the reason it is skipped.
    skip_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Folder:
    """The objects of one folder that holds nothing but regular files, by name: listed, not yet made into refs.

    Most of an organization's day is done already and only counted, so a listing that can hand a folder over
    whole saves making (and, for a local folder, ``lstat``-ing) a ref of each of its objects.
    """

    #: Relative to the source root, like a key, and ending in a slash.
    path: str
    #: The names of its objects (no slash in any), in no particular order.
    names: tuple[str, ...]


class Source(Protocol):
    """Lists and reads objects below a root (a bucket prefix or a folder)."""

    @property
    def uri(self) -> str:
        """A stable name for the source, used to key its checkpoint (``s3://bucket/prefix`` or a path)."""
        ...

    def display(self, key: str) -> str:
        """The full location of a key for messages (``s3://bucket/prefix/AWSLogs/...``)."""
        ...

    def list_dirs(self, prefix: str) -> list[str]:
        """Names of the immediate sub-folders of ``prefix`` (which ends in a slash), without the slash."""
        ...

    def list_objects(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectRef]:
        """Every object below ``prefix`` whose key sorts after ``start_after``, in key order."""
        ...

    def read(self, key: str) -> bytes:
        """The whole object. Raises ObjectGoneError when it vanished, SourceError on other faults."""
        ...

    def read_signed(self, key: str) -> tuple[bytes, str | None]:
        """A digest object and its hex signature (S3: the object's metadata; a folder: a sidecar file)."""
        ...

    @property
    def bucket_name(self) -> str | None:
        """The bucket, for sources that have one."""
        ...

    def object_key(self, key: str) -> str:
        """The key as CloudTrail wrote it (with the bucket prefix, if any): what digests name."""
        ...


@runtime_checkable
class FolderSource(Source, Protocol):
    """A source that can list by folder (a local folder: a directory listing gives the names, and a ref needs an
    ``lstat``)."""

    def list_folders(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectRef | Folder]:
        """What :meth:`Source.list_objects` lists, in the same order, but with each folder that holds only regular
        files (no sub-folder, no link) given whole, where its objects' refs would come."""
        ...

    def folder_refs(self, folder: Folder) -> list[ObjectRef]:
        """The refs :meth:`Source.list_objects` gives for the objects of ``folder``, in key order."""
        ...

"""A local folder laid out like the bucket (what ``aws s3 sync`` leaves)."""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from trailduck.errors import ConfigError, ObjectGoneError, SourceError
from trailduck.scanner.source import Folder, ObjectRef

log = logging.getLogger(__name__)


class LocalSource:
    """Reads a folder. Symbolic links are never followed: a link could point anywhere on the machine."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        path = Path(root).expanduser()
        if not path.is_dir():
            raise ConfigError(
                f"{root}: no such folder; give s3://bucket[/prefix] or a folder holding AWSLogs/"
            )
        self.root = path.resolve()

    @property
    def uri(self) -> str:
        return str(self.root)

    def display(self, key: str) -> str:
        return str(self.root / key)

    def _dir(self, prefix: str) -> Path:
        # Prefixes come from our own listing code, built from validated parts; refuse anything else.
        parts = [p for p in prefix.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise SourceError(f"{prefix!r}: refusing a prefix with . or .. segments")
        return self.root.joinpath(*parts)

    def list_dirs(self, prefix: str) -> list[str]:
        try:
            with os.scandir(self._dir(prefix)) as it:
                return sorted(e.name for e in it if e.is_dir(follow_symlinks=False))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise SourceError(f"{self.display(prefix)}: cannot list ({exc.strerror})") from exc

    def list_objects(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectRef]:
        for entry in self.list_folders(prefix, start_after):
            if isinstance(entry, Folder):
                yield from self.folder_refs(entry)
            else:
                yield entry

    def list_folders(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectRef | Folder]:
        base = self._dir(prefix)
        found: list[ObjectRef | Folder] = []
        self._walk(str(base), base.relative_to(self.root).as_posix(), start_after, found)
        # S3 lists in UTF-8 binary order; sort the same way so both sources behave alike. A folder sorts where its
        # objects would: it has no sub-folder, so no other key falls among its own.
        found.sort(key=_utf8_order)
        yield from found

    def folder_refs(self, folder: Folder) -> list[ObjectRef]:
        where = os.path.join(self.root, folder.path)
        names = sorted(folder.names, key=lambda name: name.encode("utf-8", "surrogateescape"))
        return [_ref(folder.path + name, os.path.join(where, name)) for name in names]

    def _walk(self, dirpath: str, rel: str, start_after: str | None, out: list[ObjectRef | Folder]) -> None:
        """The entries below ``dirpath`` (``rel`` from the root) into ``out``. Like ``os.walk``, a folder that
        cannot be listed is passed over, and a link is listed, never followed."""
        try:
            with os.scandir(dirpath) as it:
                entries = list(it)
        except OSError:
            return
        subdirs: list[str] = []
        plain: list[str] = []
        others: list[str] = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    subdirs.append(entry.name)
                elif entry.is_file(follow_symlinks=False):
                    plain.append(entry.name)
                else:
                    others.append(entry.name)  # a link, a FIFO, a socket: its lstat says which
            except OSError:
                others.append(entry.name)
        here = f"{rel}/"
        if plain and not subdirs and not others:
            if start_after is not None and here <= start_after:
                plain = [name for name in plain if here + name > start_after]
            if plain:
                out.append(Folder(here, tuple(plain)))
            return
        for name in plain + others:
            key = here + name
            if start_after is None or key > start_after:
                out.append(_ref(key, os.path.join(dirpath, name)))
        for name in subdirs:
            below = f"{here}{name}/" if rel != "." else f"{name}/"
            # Every key below sorts before ``start_after`` (which does not go down into it): not listed at all,
            # so a stream's earlier years are not walked on every run.
            if start_after is not None and below < start_after and not start_after.startswith(below):
                continue
            self._walk(os.path.join(dirpath, name), below[:-1], start_after, out)

    @property
    def bucket_name(self) -> str | None:
        """A folder has no bucket name."""
        return None

    def object_key(self, key: str) -> str:
        return key

    def read_signed(self, key: str) -> tuple[bytes, str | None]:
        """The object and the hex signature in its sidecar file ``<key>.signature`` (a folder has no object
        metadata), or None when there is no sidecar."""
        body = self.read(key)
        try:
            signature = self.read(key + ".signature")
        except SourceError as exc:  # absent, or not a readable regular file: no signature
            if not isinstance(exc, ObjectGoneError):
                log.warning("%s", exc)
            return body, None
        return body, signature.decode("ascii", "replace").strip()

    def read(self, key: str) -> bytes:
        path = self._dir(key)
        try:
            # O_NOFOLLOW: a link is refused by the kernel; O_NONBLOCK: opening a FIFO cannot hang; fstat on
            # the open file, so nothing can be swapped in between the check and the read.
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError as exc:
            raise ObjectGoneError(f"{self.display(key)}: listed but gone when read") from exc
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise SourceError(f"{self.display(key)}: is a symbolic link; not followed") from exc
            raise SourceError(f"{self.display(key)}: cannot read ({exc.strerror})") from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise SourceError(f"{self.display(key)}: not a regular file; not read")
            # os.read, not a file object around fd (half the cost of reading a small file); read on until the
            # end, since a file may grow after the fstat.
            chunks = [os.read(fd, st.st_size + 1)]
            while chunks[-1]:
                chunks.append(os.read(fd, max(st.st_size, 1 << 16)))
            return b"".join(chunks) if len(chunks) > 2 else chunks[0]
        except OSError as exc:
            raise SourceError(f"{self.display(key)}: cannot read ({exc.strerror})") from exc
        finally:
            os.close(fd)


def _ref(key: str, path: str) -> ObjectRef:
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return ObjectRef(key, 0, skip_reason="a symbolic link; never followed")
    if not stat.S_ISREG(st.st_mode):
        return ObjectRef(key, 0, skip_reason="not a regular file")
    return ObjectRef(key, st.st_size)


def _utf8_order(entry: ObjectRef | Folder) -> bytes:
    return (entry.key if isinstance(entry, ObjectRef) else entry.path).encode("utf-8", "surrogateescape")

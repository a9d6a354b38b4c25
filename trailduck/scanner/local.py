"""A local folder laid out like the bucket (what ``aws s3 sync`` leaves)."""

from __future__ import annotations

import errno
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from trailduck.errors import ConfigError, ObjectGoneError, SourceError
from trailduck.scanner.source import ObjectRef

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
        base = self._dir(prefix)
        refs: list[ObjectRef] = []
        for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
            dirnames.sort()
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            for name in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))] + filenames:
                key = f"{rel_dir}/{name}"
                if start_after is not None and key <= start_after:
                    continue
                st = os.lstat(os.path.join(dirpath, name))
                if stat.S_ISLNK(st.st_mode):
                    refs.append(ObjectRef(key, 0, skip_reason="a symbolic link; never followed"))
                elif not stat.S_ISREG(st.st_mode):
                    refs.append(ObjectRef(key, 0, skip_reason="not a regular file"))
                else:
                    refs.append(ObjectRef(key, st.st_size))
        # S3 lists in UTF-8 binary order; sort the same way so both sources behave alike.
        refs.sort(key=lambda r: r.key.encode("utf-8", "surrogateescape"))
        yield from refs

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
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise SourceError(f"{self.display(key)}: not a regular file; not read")
            with os.fdopen(fd, "rb", closefd=False) as fh:
                return fh.read()
        except OSError as exc:
            raise SourceError(f"{self.display(key)}: cannot read ({exc.strerror})") from exc
        finally:
            os.close(fd)

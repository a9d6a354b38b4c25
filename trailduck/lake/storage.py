"""Where a lake's objects are kept: a local folder or ``s3://bucket/prefix``. One small interface, so that the
lake's commits, markers, recovery and files are one code path for both.

Keys are relative to the lake (``events/account=.../part-....parquet``, ``_trailduck/runs/<run>.run``), with
forward slashes. A local folder writes atomically and durably (a temporary name, fsync, rename, fsync the
folder); S3 writes whole objects, which are atomic by nature. Data files go to their final name on S3 at once:
no reader looks at a data file that no commit of the table names, so there is nothing to rename.
"""

from __future__ import annotations

import fnmatch
import os
import time
from pathlib import Path
from typing import Any, Protocol

import pyarrow.fs as pafs

from trailduck.errors import ConfigError, LakeError, from_aws
from trailduck.fsutil import beside, fsync_dir, fsync_file, published_name, replace_durably, temporary_name


class Storage(Protocol):
    @property
    def uri(self) -> str:
        """The lake's location as users write it: a folder, or ``s3://bucket/prefix``."""
        ...

    @property
    def is_local(self) -> bool: ...

    def uri_of(self, key: str) -> str:
        """The location of ``key``, for messages and for Delta (``deltalake``'s table URI)."""
        ...

    def storage_options(self) -> dict[str, str]:
        """What ``deltalake`` needs to reach the lake (credentials, endpoint, region); none for a folder."""
        ...

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem and the lake's root in it, for reading and writing Parquet."""
        ...

    def read(self, key: str) -> bytes | None:
        """The object's bytes, or None when there is none."""
        ...

    def write(self, key: str, data: bytes) -> str | None:
        """Replace the object atomically and durably: a reader sees the old bytes or the new ones. Returns its
        version (the ETag on S3), for :meth:`replace`."""
        ...

    def replace(self, key: str, data: bytes, version: str | None) -> bool:
        """As :meth:`write`, only if the object is still the one ``version`` names (on S3: ``If-Match``; on a
        local folder, whose single writer the lock guarantees: only if it still exists). False if not."""
        ...

    def delete(self, key: str) -> None:
        """Delete the object; nothing when it is not there."""
        ...

    def keys(self, prefix: str, pattern: str = "*") -> list[str]:
        """The keys under the folder ``prefix`` (recursively) whose last part matches ``pattern``, sorted."""
        ...

    def first_keys(self, prefix: str, count: int) -> list[str]:
        """Up to ``count`` keys that start with ``prefix``, in one request on S3."""
        ...

    def part_sink(self, key: str) -> str:
        """Where a data file for ``key`` is written (a path in :meth:`filesystem`): on a local folder its
        temporary name, renamed by :meth:`publish`; on S3 the key itself."""
        ...

    def publish(self, sinks: list[str]) -> list[str]:
        """Make written data files final; returns their keys."""
        ...


class LocalStorage:
    """A lake in a local folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def uri(self) -> str:
        return str(self.root)

    @property
    def is_local(self) -> bool:
        return True

    def path(self, key: str) -> Path:
        return self.root / key

    def uri_of(self, key: str) -> str:
        return str(self.root / key) if key else str(self.root)

    def storage_options(self) -> dict[str, str]:
        return {}

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        return pafs.LocalFileSystem(), str(self.root)

    def read(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, key: str, data: bytes) -> str | None:
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = beside(final)
        with open(tmp, "wb") as fh:
            fh.write(data)
        fsync_file(tmp)
        replace_durably(tmp, final)
        return None

    def replace(self, key: str, data: bytes, version: str | None) -> bool:
        if not self.path(key).exists():
            return False
        self.write(key, data)
        return True

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def keys(self, prefix: str, pattern: str = "*") -> list[str]:
        base = self.path(prefix)
        if not base.is_dir():
            return []
        return sorted(p.relative_to(self.root).as_posix() for p in base.rglob(pattern) if p.is_file())

    def first_keys(self, prefix: str, count: int) -> list[str]:
        folder = prefix.rpartition("/")[0]
        found = [k for k in self.keys(folder) if k.startswith(prefix)]
        return found[:count]

    def part_sink(self, key: str) -> str:
        final = self.path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        return str(final.with_name(temporary_name(final.name)))

    def publish(self, sinks: list[str]) -> list[str]:
        keys: list[str] = []
        folders: set[Path] = set()
        for sink in sinks:
            tmp = Path(sink)
            final = tmp.with_name(published_name(tmp.name))
            os.replace(tmp, final)
            folders.add(final.parent)
            keys.append(final.relative_to(self.root).as_posix())
        for folder in folders:
            fsync_dir(folder)
        return keys


#: How long one set of credentials is used for pyarrow before they are asked for again (botocore refreshes
#: credentials that expire within 15 minutes, so a set taken now lasts this long).
_REFRESH_S = 10 * 60


class S3Storage:
    """A lake at ``s3://bucket/prefix``: small objects through boto3 (whose errors :func:`from_aws`
    translates), Parquet through pyarrow's S3 filesystem, the tables through ``deltalake``; all three with the
    same credentials, region and endpoint."""

    def __init__(
        self,
        bucket: str,
        prefix: str,
        *,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.profile = profile
        self.region = region
        self.endpoint_url = endpoint_url
        self._client = client
        self._fs: pafs.S3FileSystem | None = None
        self._fs_made = 0.0
        self._region: str | None = None
        self._session: Any = None

    def __reduce__(self) -> tuple[Any, ...]:
        # To worker processes: the settings, not the client (a boto3 client does not pickle).
        return (
            S3Storage,
            (self.bucket, self.prefix),
            {"profile": self.profile, "region": self.region, "endpoint_url": self.endpoint_url},
        )

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._client = None
        self._fs = None
        self._region = None
        self._session = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from trailduck.scanner.s3 import make_client  # boto3: only for a lake on S3

            self._client = make_client(
                profile=self.profile, region=self.region, endpoint_url=self.endpoint_url
            )
        return self._client

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    @property
    def is_local(self) -> bool:
        return False

    def key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def uri_of(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.key(key)}" if key else self.uri

    def _credentials(self) -> tuple[dict[str, str], str]:
        """The credentials and region of the standard chain (profile, environment, instance role), as boto3
        finds them, for the two libraries that do not use boto3."""
        if self._session is None:
            import boto3

            # One session for the storage's life: its credentials refresh themselves before they expire.
            self._session = boto3.Session(profile_name=self.profile, region_name=self.region)
        session = self._session
        found = session.get_credentials()
        frozen = found.get_frozen_credentials() if found is not None else None
        region = self._bucket_region() or session.region_name or "us-east-1"
        creds: dict[str, str] = {}
        if frozen is not None:
            creds = {"key": frozen.access_key, "secret": frozen.secret_key}
            if frozen.token:
                creds["token"] = frozen.token
        return creds, region

    def _bucket_region(self) -> str | None:
        """The bucket's own region (a HEAD names it, even when asked in another one): pyarrow and delta-rs
        need it, where boto3 follows the redirect by itself."""
        if self._region is None:
            try:
                head = self.client.head_bucket(Bucket=self.bucket)
                self._region = head["ResponseMetadata"]["HTTPHeaders"].get("x-amz-bucket-region") or ""
            except Exception as exc:
                code = getattr(exc, "response", {}).get("Error", {}).get("Code")
                if code in ("404", "NoSuchBucket"):
                    raise ConfigError(
                        f"--lake {self.uri}: no such bucket; create it first (aws s3 mb s3://{self.bucket})"
                    ) from exc
                raise self._aws(exc, "opening", "", "s3:ListBucket") from exc
        return self._region or None

    def storage_options(self) -> dict[str, str]:
        creds, region = self._credentials()
        # Commits to the Delta log with conditional PUTs (If-None-Match), which S3 has had since 2024: no lock
        # service needed for an atomic commit (and trailduck's lease keeps to one writer anyway).
        options = {"AWS_REGION": region, "aws_conditional_put": "etag"}
        if "key" in creds:
            options["AWS_ACCESS_KEY_ID"] = creds["key"]
            options["AWS_SECRET_ACCESS_KEY"] = creds["secret"]
        if "token" in creds:
            options["AWS_SESSION_TOKEN"] = creds["token"]
        if self.endpoint_url:
            options["AWS_ENDPOINT_URL"] = self.endpoint_url
            if self.endpoint_url.startswith("http://"):
                options["AWS_ALLOW_HTTP"] = "true"
        return options

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """pyarrow's S3 filesystem with the credentials boto3 finds, made anew every few minutes: credentials
        of a role or an SSO session expire (within the hour), and a long run must not outlive them."""
        fs = self._fs
        if fs is None or time.monotonic() - self._fs_made > _REFRESH_S:
            made = time.monotonic()
            creds, region = self._credentials()
            kwargs: dict[str, Any] = {"region": region}
            if "key" in creds:
                kwargs.update(
                    access_key=creds["key"], secret_key=creds["secret"], session_token=creds.get("token")
                )
            if self.endpoint_url:
                scheme, _, host = self.endpoint_url.partition("://")
                kwargs.update(endpoint_override=host, scheme=scheme)
            fs = pafs.S3FileSystem(**kwargs)
            self._fs, self._fs_made = fs, made  # (a thread reading both meanwhile gets an older, valid one)
        return fs, f"{self.bucket}/{self.prefix}" if self.prefix else self.bucket

    def _aws(self, exc: Exception, doing: str, key: str, action: str) -> Exception:
        """The trailduck error for a failed call, naming the IAM action the lake's writer needs."""
        resource = (
            f"arn:aws:s3:::{self.bucket}"
            if action == "s3:ListBucket"
            else f"arn:aws:s3:::{self.bucket}/{self.key(key)}"
        )
        return from_aws(exc, where=f"{doing} {self.uri_of(key)}", action=action, resource=resource)

    def read(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(key))
            return bytes(response["Body"].read())
        except self.client.exceptions.NoSuchKey:
            return None
        except Exception as exc:
            raise self._aws(exc, "reading", key, "s3:GetObject") from exc

    def write(self, key: str, data: bytes) -> str | None:
        try:
            response = self.client.put_object(Bucket=self.bucket, Key=self.key(key), Body=data)
        except Exception as exc:
            raise self._aws(exc, "writing", key, "s3:PutObject") from exc
        return str(response.get("ETag") or "") or None

    def replace(self, key: str, data: bytes, version: str | None) -> bool:
        from trailduck.state.s3store import put_if

        if version is None:
            return False
        return (
            put_if(self.client, self.bucket, self.key(key), data, etag=version, what="a run's marker")
            is not None
        )

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.key(key))
        except Exception as exc:
            raise self._aws(exc, "deleting", key, "s3:DeleteObject") from exc

    def keys(self, prefix: str, pattern: str = "*") -> list[str]:
        start = self.key(prefix.rstrip("/") + "/") if prefix else (f"{self.prefix}/" if self.prefix else "")
        skip = len(f"{self.prefix}/") if self.prefix else 0
        found: list[str] = []
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=start
            ):
                for obj in page.get("Contents", []):
                    key = obj["Key"][skip:]
                    if fnmatch.fnmatchcase(key.rsplit("/", 1)[-1], pattern):
                        found.append(key)
        except Exception as exc:
            raise self._aws(exc, "listing", prefix, "s3:ListBucket") from exc
        return sorted(found)

    def first_keys(self, prefix: str, count: int) -> list[str]:
        """Up to ``count`` keys under ``prefix``, in one request (is the prefix empty, or whose is it?)."""
        start = self.key(prefix) if prefix else (f"{self.prefix}/" if self.prefix else "")
        skip = len(f"{self.prefix}/") if self.prefix else 0
        try:
            page = self.client.list_objects_v2(Bucket=self.bucket, Prefix=start, MaxKeys=count)
        except Exception as exc:
            raise self._aws(exc, "listing", prefix, "s3:ListBucket") from exc
        return [obj["Key"][skip:] for obj in page.get("Contents", [])]

    def part_sink(self, key: str) -> str:
        _, base = self.filesystem()
        return f"{base}/{key}"

    def publish(self, sinks: list[str]) -> list[str]:
        _, base = self.filesystem()
        return [sink[len(base) + 1 :] for sink in sinks]


def open_storage(
    location: str | os.PathLike[str],
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> Storage:
    """The storage of the lake at ``location``: ``s3://bucket[/prefix]`` or a local folder."""
    text = os.fspath(location)
    if text.startswith("s3:/") or text == "s3:":
        rest = text.removeprefix("s3:").lstrip("/")
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise ConfigError(f"--lake s3://{rest}: no bucket name; write s3://bucket or s3://bucket/prefix")
        return S3Storage(bucket, prefix, profile=profile, region=region, endpoint_url=endpoint_url)
    raise LakeError(f"{text}: not an S3 location")  # pragma: no cover - callers check first

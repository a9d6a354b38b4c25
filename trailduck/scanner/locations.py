"""A trail source from what the user typed: ``s3://bucket[/prefix]`` or a folder.

Kept apart from :mod:`trailduck.scanner.source` (the interface both implementations import), so that no module
imports one that imports it back. boto3 is imported only when an ``s3://`` source is opened: a run from a local
folder does without its start-up time.
"""

from __future__ import annotations

from typing import Any

from trailduck.errors import ConfigError
from trailduck.scanner.local import LocalSource
from trailduck.scanner.source import Source


def open_source(
    location: str,
    *,
    profile: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
    concurrency: int = 16,
) -> Source:
    """Open ``s3://bucket[/prefix]`` through boto3 or a local folder with the bucket's layout."""
    if location.startswith("s3://"):
        from trailduck.scanner.s3 import S3Source, make_client, split_s3_uri  # boto3: only when needed

        bucket, prefix = split_s3_uri(location)
        opened_with: dict[str, Any] = {
            "profile": profile,
            "region": region,
            "endpoint_url": endpoint_url,
            "max_pool_connections": concurrency,
        }
        return S3Source(make_client(**opened_with), bucket, prefix, opened_with=opened_with)
    if "://" in location:
        raise ConfigError(f"{location}: only s3://bucket[/prefix] URLs and local folders are supported")
    return LocalSource(location)

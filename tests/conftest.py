"""Shared fixtures: a real S3 server on loopback (moto, threaded, random port) and generated trails."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.helpers import NOW, small_spec
from trailduck.ingestion.run import IngestOptions, ingest
from trailduck.synthetic.generator import Manifest, folder_sink, s3_sink, write_trail

_bucket_ids = itertools.count()


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test can reach real AWS: every AWS_* variable is cleared and dummy credentials are set."""
    for name in list(os.environ):
        if name.startswith("AWS_") or name == "TRAILDUCK_LAKE":
            monkeypatch.delenv(name)
    empty = tmp_path_factory.getbasetemp() / "no-aws-config"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_client(s3_endpoint: str, _no_real_aws: None) -> Any:
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3_client: Any) -> str:
    name = f"trail-{next(_bucket_ids)}-{os.getpid()}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def local_trail(tmp_path: Path) -> tuple[Path, Manifest]:
    root = tmp_path / "bucket"
    manifest = write_trail(small_spec(), folder_sink(root))
    return root, manifest


@pytest.fixture
def s3_trail(s3_client: Any, bucket: str) -> tuple[str, Manifest]:
    manifest = write_trail(small_spec(), s3_sink(s3_client, bucket))
    return bucket, manifest


@pytest.fixture
def lake(local_trail: tuple[Path, Manifest], tmp_path: Path) -> Path:
    """A lake ingested from ``local_trail``, at ``tmp_path / "lake"``."""
    root, _ = local_trail
    lake = tmp_path / "lake"
    ingest(IngestOptions(source=str(root), lake=lake), now=NOW)
    return lake

"""trailduck: turn an AWS CloudTrail bucket into a Hive-partitioned Parquet lake with DuckDB views.

The library the CLI and the notebooks share; everything public is here, at the top of the package::

    import trailduck
    summary = trailduck.ingest(trailduck.IngestOptions(source="s3://bucket", lake=Path("cloudtrail-lake")))
    lake = trailduck.open_lake("cloudtrail-lake")
    con = lake.connect()                                  # DuckDB, with the views
    findings = trailduck.run_report(lake)                 # every detection over the lake
    sigma = trailduck.run_sigma(lake, ["rules/cloud/aws/cloudtrail"])   # Sigma rules over the lake
    result = trailduck.verify(trailduck.VerifyOptions(source="s3://bucket"))   # against the digest files
    trailduck.compact(lake)                               # fewer, larger Parquet files

Names are imported when first used, so ``import trailduck`` (and each worker process) stays light.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trailduck.analysis.query import run_query
    from trailduck.analysis.report import Finding, run_report
    from trailduck.errors import (
        AccessDeniedError,
        AwsAccessDeniedError,
        AwsError,
        BadObjectError,
        ClusterRefusedError,
        ConfigError,
        ExitCode,
        LakeError,
        ObjectGoneError,
        SourceError,
        StateError,
        TrailduckError,
    )
    from trailduck.ingestion.run import IngestOptions, IngestSummary, ingest
    from trailduck.integrity.result import VerifyResult
    from trailduck.integrity.verify import VerifyOptions, keep_result, verify
    from trailduck.lake.compact import CompactSummary, compact
    from trailduck.lake.folder import Lake, open_lake
    from trailduck.lake.rebuild import RebuildResult, rebuild_checkpoint
    from trailduck.sigma.run import SigmaFinding, install_sigma_views, run_sigma
    from trailduck.synthetic.demo import example_sigma_rules, notebook_lake

#: Each public name and the module that owns it.
_OWNERS = {
    "ingest": "trailduck.ingestion.run",
    "IngestOptions": "trailduck.ingestion.run",
    "IngestSummary": "trailduck.ingestion.run",
    "verify": "trailduck.integrity.verify",
    "VerifyOptions": "trailduck.integrity.verify",
    "VerifyResult": "trailduck.integrity.result",
    "keep_result": "trailduck.integrity.verify",
    "run_report": "trailduck.analysis.report",
    "Finding": "trailduck.analysis.report",
    "run_query": "trailduck.analysis.query",
    "compact": "trailduck.lake.compact",
    "CompactSummary": "trailduck.lake.compact",
    "rebuild_checkpoint": "trailduck.lake.rebuild",
    "RebuildResult": "trailduck.lake.rebuild",
    "open_lake": "trailduck.lake.folder",
    "Lake": "trailduck.lake.folder",
    "run_sigma": "trailduck.sigma.run",
    "SigmaFinding": "trailduck.sigma.run",
    "install_sigma_views": "trailduck.sigma.run",
    "notebook_lake": "trailduck.synthetic.demo",
    "example_sigma_rules": "trailduck.synthetic.demo",
    **{
        name: "trailduck.errors"
        for name in (
            "TrailduckError",
            "ConfigError",
            "ClusterRefusedError",
            "SourceError",
            "AccessDeniedError",
            "AwsError",
            "AwsAccessDeniedError",
            "ObjectGoneError",
            "BadObjectError",
            "StateError",
            "LakeError",
            "ExitCode",
        )
    },
}

__all__ = [
    "AccessDeniedError",
    "AwsAccessDeniedError",
    "AwsError",
    "BadObjectError",
    "ClusterRefusedError",
    "CompactSummary",
    "ConfigError",
    "ExitCode",
    "Finding",
    "IngestOptions",
    "IngestSummary",
    "Lake",
    "LakeError",
    "ObjectGoneError",
    "RebuildResult",
    "SigmaFinding",
    "SourceError",
    "StateError",
    "TrailduckError",
    "VerifyOptions",
    "VerifyResult",
    "__version__",
    "compact",
    "example_sigma_rules",
    "ingest",
    "install_sigma_views",
    "keep_result",
    "notebook_lake",
    "open_lake",
    "rebuild_checkpoint",
    "run_query",
    "run_report",
    "run_sigma",
    "verify",
]

try:
    __version__ = importlib.metadata.version("trailduck")  # one owner: pyproject.toml
except importlib.metadata.PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"


if not TYPE_CHECKING:  # the type checker sees the imports above; a misspelt name is then its error too

    def __getattr__(name: str) -> Any:
        owner = _OWNERS.get(name)
        if owner is None:
            raise AttributeError(f"module 'trailduck' has no attribute {name!r}")
        value = getattr(importlib.import_module(owner), name)
        globals()[name] = value  # the next lookup does not come here
        return value


def __dir__() -> list[str]:
    return __all__

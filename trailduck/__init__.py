"""trailduck: turn an AWS CloudTrail bucket into a Hive-partitioned Parquet lake with DuckDB views.

The library the CLI and the notebooks share::

    import trailduck
    summary = trailduck.ingest(trailduck.IngestOptions(source="s3://bucket", lake=Path("cloudtrail-lake")))
    con = trailduck.open_lake("cloudtrail-lake").connect()
"""

import importlib.metadata

from trailduck.errors import TrailduckError
from trailduck.ingestion.run import IngestOptions, IngestSummary, ingest
from trailduck.lake.folder import Lake, open_lake

__all__ = ["IngestOptions", "IngestSummary", "Lake", "TrailduckError", "__version__", "ingest", "open_lake"]
try:
    __version__ = importlib.metadata.version("trailduck")  # one owner: pyproject.toml
except importlib.metadata.PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

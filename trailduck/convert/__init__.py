"""Bytes to Arrow: gunzip and split a log file, then build the typed columns (C, DuckDB or Python)."""

"""One exception hierarchy for the whole package; the CLI maps it to messages and exit codes."""

from __future__ import annotations


class TrailduckError(Exception):
    """Base of every error trailduck raises on purpose. The message names the object and the next step."""


class ConfigError(TrailduckError):
    """A bad option or argument: the user can fix it by changing the command line."""


class SourceError(TrailduckError):
    """The trail source (S3 bucket or local folder) could not be listed or read."""


class AccessDeniedError(SourceError):
    """The credentials lack a permission; the message names the IAM action and resource."""


class ObjectGoneError(SourceError):
    """An object was listed but no longer exists when read."""


class BadObjectError(TrailduckError):
    """One log file cannot be converted (corrupt, hostile or not a CloudTrail log). It is quarantined."""


class StateError(TrailduckError):
    """The checkpoint is unreadable, of an unknown version, or inconsistent with the lake."""


class LakeError(TrailduckError):
    """The lake folder or its DuckDB database cannot be written or read."""

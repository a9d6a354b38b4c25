"""One exception hierarchy for the whole package, and the exit codes; the CLI maps the one to the other."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """What a ``trailduck`` command exits with: the one table of them (the README lists the same)."""

    OK = 0
    #: A fatal error: the message names the object and what to do.
    FATAL = 1
    #: A bad option or argument (a wrong source folder included).
    USAGE = 2
    #: ``ingest``: some files were quarantined; they are retried on the next run.
    QUARANTINED = 3
    #: ``verify``: a log file or digest is not what CloudTrail delivered; ``report --fail-on-findings``: a
    #: detection matched.
    FINDINGS = 4
    #: Stopped by a signal: 128 + its number (130 for Ctrl-C, 143 for SIGTERM).
    SIGNALLED = 128


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

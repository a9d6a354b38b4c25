"""One exception hierarchy for the whole package, the exit codes, and the one table from AWS errors to it.

The CLI maps the exceptions to exit codes. Every AWS call that fails (listing and reading the trail, setting up
the bucket and the trail, fetching CloudTrail's public keys) becomes one of these exceptions through
:func:`from_aws`, and only there; the retry of a read asks :func:`is_transient`, from the same table.

botocore is not imported here: ``import trailduck`` must not need boto3. An AWS error is recognised by what it
carries (a ``ClientError``'s ``response["Error"]["Code"]``) and by the names of its classes.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum
from typing import Any


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


class ClusterRefusedError(ConfigError):
    """A Dask cluster that cannot do the run (no workers, another trailduck, no lake or trail on the workers),
    found before any work is sent to it."""


class SourceError(TrailduckError):
    """The trail source (S3 bucket or local folder) could not be listed or read."""


class AwsError(TrailduckError):
    """An AWS call other than listing or reading the trail source failed: ``setup``'s STS, Organizations, S3
    and CloudTrail calls, or CloudTrail's public keys for ``verify``. The message names the call and its
    object."""


class AwsAccessDeniedError(AwsError):
    """Such a call was refused: the message names the IAM action and resource, or says the credentials were
    missing or refused."""


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


class AwsFault(StrEnum):
    """What an AWS error means to trailduck: the kinds the tables below sort AWS errors into."""

    #: The credentials lack a permission (an IAM or bucket policy, an SCP, a KMS key policy).
    DENIED = "denied"
    #: No credentials, or credentials AWS refused (an unknown key, a bad signature, an expired session).
    CREDENTIALS = "credentials"
    #: The object is not there (any more).
    NOT_FOUND = "not_found"
    #: The bucket does not exist.
    NO_BUCKET = "no_bucket"
    #: Throttled, a fault on AWS's side, or a connection that broke: worth trying again.
    TRANSIENT = "transient"
    #: A conditional write's condition did not hold (``If-Match``, ``If-None-Match``): another writer changed
    #: the object since it was read, or made it first. Sending the same request again cannot help.
    CONFLICT = "conflict"
    #: ``--profile`` names no profile: fixed on the command line.
    PROFILE = "profile"
    #: Any other refusal: the message AWS gave is passed on.
    OTHER = "other"


#: AWS error codes (a ``ClientError``'s ``response["Error"]["Code"]``) by what they mean; an error code not
#: here is ``TRANSIENT`` when its HTTP status is 5xx (as botocore's own retries judge), else ``OTHER``.
AWS_CODES: dict[str, AwsFault] = {
    "AccessDenied": AwsFault.DENIED,  # S3, STS
    "AccessDeniedException": AwsFault.DENIED,  # CloudTrail, Organizations, KMS
    "UnauthorizedOperation": AwsFault.DENIED,  # EC2-style APIs
    "AllAccessDisabled": AwsFault.DENIED,  # S3: a bucket with all access disabled
    "403": AwsFault.DENIED,  # the answer to a HEAD request has no body: only its status
    "InvalidAccessKeyId": AwsFault.CREDENTIALS,  # S3
    "SignatureDoesNotMatch": AwsFault.CREDENTIALS,
    "InvalidToken": AwsFault.CREDENTIALS,  # S3: a malformed session token
    "ExpiredToken": AwsFault.CREDENTIALS,  # S3, STS
    "ExpiredTokenException": AwsFault.CREDENTIALS,
    "InvalidClientTokenId": AwsFault.CREDENTIALS,  # STS: an unknown access key
    "UnrecognizedClientException": AwsFault.CREDENTIALS,  # CloudTrail, Organizations: the same
    "NoSuchKey": AwsFault.NOT_FOUND,
    "NotFound": AwsFault.NOT_FOUND,
    "404": AwsFault.NOT_FOUND,  # HEAD again
    "NoSuchBucket": AwsFault.NO_BUCKET,
    "PreconditionFailed": AwsFault.CONFLICT,  # S3: a 412, the If-Match or If-None-Match did not hold
    "412": AwsFault.CONFLICT,  # HEAD again
    # S3: a 409, another conditional write (or a delete) of the same key was in flight at the same moment.
    "ConditionalRequestConflict": AwsFault.CONFLICT,
    "NotImplemented": AwsFault.OTHER,  # a 501: the endpoint lacks the call, every time
    "501": AwsFault.OTHER,
    "500": AwsFault.TRANSIENT,
    "502": AwsFault.TRANSIENT,
    "503": AwsFault.TRANSIENT,
    "504": AwsFault.TRANSIENT,
    "InternalError": AwsFault.TRANSIENT,  # S3
    "InternalFailure": AwsFault.TRANSIENT,
    "ServiceUnavailable": AwsFault.TRANSIENT,
    "ServiceUnavailableException": AwsFault.TRANSIENT,
    "SlowDown": AwsFault.TRANSIENT,  # S3's throttling
    "Throttling": AwsFault.TRANSIENT,  # STS
    "ThrottlingException": AwsFault.TRANSIENT,  # CloudTrail
    "ThrottledException": AwsFault.TRANSIENT,
    "RequestThrottled": AwsFault.TRANSIENT,
    "RequestThrottledException": AwsFault.TRANSIENT,
    "TooManyRequestsException": AwsFault.TRANSIENT,  # Organizations
    "RequestLimitExceeded": AwsFault.TRANSIENT,
    "PriorRequestNotComplete": AwsFault.TRANSIENT,
    "RequestTimeout": AwsFault.TRANSIENT,  # S3: the connection went idle
    "RequestTimeoutException": AwsFault.TRANSIENT,
    "RequestTimeTooSkewed": AwsFault.TRANSIENT,  # botocore corrects its clock offset and tries again
}

#: botocore's exceptions that carry no error code, by class name (matched along the class's bases). Any other
#: exception an AWS call raises is a connection that broke (a reset, a timeout, a body cut off mid-read):
#: ``TRANSIENT``.
AWS_EXCEPTIONS: dict[str, AwsFault] = {
    "NoCredentialsError": AwsFault.CREDENTIALS,
    "PartialCredentialsError": AwsFault.CREDENTIALS,
    # The instance or container credential endpoint did not answer (it does, on the next try), unlike the
    # other credential errors, which say the configuration is wrong.
    "CredentialRetrievalError": AwsFault.TRANSIENT,
    "TokenRetrievalError": AwsFault.CREDENTIALS,  # SSO
    "UnauthorizedSSOTokenError": AwsFault.CREDENTIALS,
    "SSOTokenLoadError": AwsFault.CREDENTIALS,
    "ProfileNotFound": AwsFault.PROFILE,
    "ParamValidationError": AwsFault.OTHER,  # a request botocore would not send: retrying cannot help
}

#: The class each fault becomes when listing or reading the trail source, and for any other AWS call; a fault
#: not listed becomes SourceError or AwsError.
_SOURCE_CLASSES: dict[AwsFault, type[TrailduckError]] = {
    AwsFault.DENIED: AccessDeniedError,
    AwsFault.CREDENTIALS: AccessDeniedError,
    AwsFault.NOT_FOUND: ObjectGoneError,
    AwsFault.PROFILE: ConfigError,
}
_AWS_CLASSES: dict[AwsFault, type[TrailduckError]] = {
    AwsFault.DENIED: AwsAccessDeniedError,
    AwsFault.CREDENTIALS: AwsAccessDeniedError,
    AwsFault.PROFILE: ConfigError,
}


def aws_code(exc: BaseException) -> str | None:
    """The error code of a botocore ``ClientError`` (``"AccessDenied"``, ``"404"``); None for any other error."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    error = response.get("Error")
    return str(error.get("Code") or "") if isinstance(error, dict) else ""


def aws_fault(exc: BaseException) -> AwsFault:
    """What ``exc``, raised by a boto3 call, means: from the error code, else from the exception's class."""
    code = aws_code(exc)
    if code is not None:
        if code in AWS_CODES:
            return AWS_CODES[code]
        return AwsFault.TRANSIENT if _http_status(exc) >= 500 else AwsFault.OTHER
    for cls in type(exc).__mro__:
        if cls.__name__ in AWS_EXCEPTIONS:
            return AWS_EXCEPTIONS[cls.__name__]
    return AwsFault.TRANSIENT


def is_transient(exc: BaseException) -> bool:
    """Whether trying the same call again may succeed (throttling, a 5xx, a broken connection)."""
    return aws_fault(exc) is AwsFault.TRANSIENT


def from_aws(
    exc: BaseException,
    *,
    where: str,
    action: str | None = None,
    resource: str | None = None,
    source: bool = False,
    if_denied: str | None = None,
    next_step: str | None = None,
) -> TrailduckError:
    """The trailduck error for ``exc``, raised by a boto3 call; the caller raises it ``from exc``.

    ``where`` says what was being done to which object (``"listing s3://bucket/AWSLogs/"``), ``action`` and
    ``resource`` are the IAM action the call needs and the ARN it needs it on (None for a call that needs no
    permission, like making a session). ``source`` is true when the call
    lists or reads the trail source: the error is then a :class:`SourceError` (:class:`AccessDeniedError`,
    :class:`ObjectGoneError`), else an :class:`AwsError`. ``if_denied`` is added to a refusal (another
    permission the call may need), ``next_step`` to every message (what else the user can do).
    """
    fault = aws_fault(exc)
    code = aws_code(exc)
    said = f"{code} {where}" if code else where
    if fault is AwsFault.DENIED:
        who = "the reader" if source else "the caller"
        needs = (
            f"needs {action}" + (f" on {resource}" if resource else "") if action else "lacks a permission"
        )
        message = f"{said}: {who} {needs}" + (f" ({if_denied})" if if_denied else "")
    elif fault is AwsFault.CREDENTIALS and code:
        message = (
            f"{said}: AWS refused the credentials; renew them (an expired session or SSO login) or check "
            "AWS_PROFILE and --profile"
        )
    elif fault is AwsFault.CREDENTIALS:
        message = (
            f"{where}: no usable AWS credentials ({exc}); set AWS_PROFILE or pass --profile, or configure the "
            "standard credential chain"
        )
    elif fault is AwsFault.PROFILE:
        profile = (getattr(exc, "kwargs", None) or {}).get("profile")
        message = f"AWS profile {profile!r} not found; check ~/.aws/config or drop --profile"
    elif fault is AwsFault.NOT_FOUND:
        message = f"{said}: gone since it was listed" if source else f"{said}: not found"
    elif fault is AwsFault.NO_BUCKET:
        message = f"{said}: no such bucket; check the name and --endpoint-url"
    else:
        message = f"{said}: {_aws_message(exc)}"
        if fault is AwsFault.TRANSIENT and not source:
            # A read of the source is retried, then quarantined and retried on the next run; this is not.
            message += (
                " (throttled, or a fault at AWS: try again)"
                if code
                else " (check the network and --endpoint-url, then try again)"
            )
    if next_step:
        message += f"; {next_step}"
    classes = _SOURCE_CLASSES if source else _AWS_CLASSES
    return classes.get(fault, SourceError if source else AwsError)(message)


def aws_retried(exc: BaseException) -> bool:
    """Whether botocore had sent the call more than once before this answer (its own retries): an answer to a
    conditional write may then be about the write this call already made."""
    response: Any = getattr(exc, "response", None) or {}
    try:
        return int(response.get("ResponseMetadata", {}).get("RetryAttempts") or 0) > 0
    except (TypeError, ValueError, AttributeError):
        return False


def _http_status(exc: BaseException) -> int:
    response: Any = getattr(exc, "response", None) or {}
    try:
        return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    except (TypeError, ValueError, AttributeError):
        return 0


def _aws_message(exc: BaseException) -> str:
    """What AWS said (``response["Error"]["Message"]``), else the exception's own text."""
    response: Any = getattr(exc, "response", None) or {}
    error = response.get("Error") if isinstance(response, dict) else None
    said = error.get("Message") if isinstance(error, dict) else None
    return str(said) if said else str(exc) or type(exc).__name__

"""The one table from AWS errors to trailduck's: each code, in each role, to its class and message."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import botocore.exceptions
import pytest

from trailduck.errors import (
    AWS_CODES,
    AccessDeniedError,
    AwsAccessDeniedError,
    AwsError,
    AwsFault,
    ConfigError,
    ObjectGoneError,
    SourceError,
    TrailduckError,
    aws_code,
    aws_fault,
    aws_retried,
    from_aws,
    is_transient,
)

#: Reading a log file from the trail source.
READ = (
    "reading s3://trail-bucket/AWSLogs/111122223333/CloudTrail/x.json.gz",
    "s3:GetObject",
    "arn:aws:s3:::trail-bucket/AWSLogs/111122223333/CloudTrail/x.json.gz",
)
#: Setting up a trail: not the trail source.
CREATE = (
    "creating trail main",
    "cloudtrail:CreateTrail",
    "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
)


def translate(error: BaseException, call: tuple[str, str, str], **more: Any) -> TrailduckError:
    where, action, resource = call
    return from_aws(error, where=where, action=action, resource=resource, source=call is READ, **more)


def client_error(
    code: str, status: int = 400, message: str = "what AWS said"
) -> botocore.exceptions.ClientError:
    response = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
    return botocore.exceptions.ClientError(response, "AnOperation")


# (error, source?, the class, what the message says)
CASES = [
    # Refused: the message names the IAM action and the resource; the reader reads the trail, the caller sets up.
    (client_error("AccessDenied", 403), True, AccessDeniedError, "AccessDenied reading s3://trail-bucket/"),
    (
        client_error("AccessDenied", 403),
        True,
        AccessDeniedError,
        "the reader needs s3:GetObject on arn:aws:s3:::",
    ),
    (client_error("403", 403), True, AccessDeniedError, "403 reading"),
    (client_error("AllAccessDisabled", 403), True, AccessDeniedError, "needs s3:GetObject"),
    (
        client_error("AccessDeniedException", 400),
        False,
        AwsAccessDeniedError,
        "AccessDeniedException creating trail main: the caller needs cloudtrail:CreateTrail on "
        "arn:aws:cloudtrail:us-east-1:111122223333:trail/main",
    ),
    (
        client_error("AccessDenied", 403),
        False,
        AwsAccessDeniedError,
        "the caller needs cloudtrail:CreateTrail",
    ),
    (client_error("UnauthorizedOperation", 403), False, AwsAccessDeniedError, "needs cloudtrail:CreateTrail"),
    # Credentials refused or absent: same class as a refusal, a message about the credentials.
    (client_error("InvalidAccessKeyId", 403), True, AccessDeniedError, "AWS refused the credentials"),
    (client_error("SignatureDoesNotMatch", 403), True, AccessDeniedError, "AWS refused the credentials"),
    (client_error("ExpiredToken", 400), True, AccessDeniedError, "ExpiredToken reading s3://trail-bucket/"),
    (client_error("ExpiredToken", 400), False, AwsAccessDeniedError, "renew them"),
    (client_error("InvalidClientTokenId", 403), False, AwsAccessDeniedError, "AWS refused the credentials"),
    (
        client_error("UnrecognizedClientException", 400),
        False,
        AwsAccessDeniedError,
        "refused the credentials",
    ),
    (botocore.exceptions.NoCredentialsError(), True, AccessDeniedError, "no usable AWS credentials"),
    (
        botocore.exceptions.NoCredentialsError(),
        False,
        AwsAccessDeniedError,
        "set AWS_PROFILE or pass --profile",
    ),
    (botocore.exceptions.ProfileNotFound(profile="nope"), True, ConfigError, "AWS profile 'nope' not found"),
    (botocore.exceptions.ProfileNotFound(profile="nope"), False, ConfigError, "drop --profile"),
    # Gone, or never there.
    (client_error("NoSuchKey", 404), True, ObjectGoneError, "NoSuchKey reading s3://trail-bucket/"),
    (client_error("404", 404), True, ObjectGoneError, "gone since it was listed"),
    (client_error("NotFound", 404), True, ObjectGoneError, "gone since it was listed"),
    (client_error("NoSuchKey", 404), False, AwsError, "NoSuchKey creating trail main: not found"),
    (
        client_error("NoSuchBucket", 404),
        True,
        SourceError,
        "no such bucket; check the name and --endpoint-url",
    ),
    (client_error("NoSuchBucket", 404), False, AwsError, "no such bucket"),
    # Passing faults: what AWS said; only outside the source (never retried there) the advice to try again.
    (client_error("SlowDown", 503, "Please reduce your request rate."), True, SourceError, "rate."),
    (client_error("ThrottlingException", 400, "Rate exceeded"), False, AwsError, "Rate exceeded (throttled"),
    (client_error("InternalError", 500), False, AwsError, "InternalError creating trail main: what AWS said"),
    (
        botocore.exceptions.EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
        False,
        AwsError,
        "creating trail main: Could not connect to the endpoint URL",
    ),
    (botocore.exceptions.EndpointConnectionError(endpoint_url="http://x"), False, AwsError, "--endpoint-url"),
    # Anything else: AWS's code and message, naming what was being done.
    (
        client_error("TrailAlreadyExistsException", 400, "it exists"),
        False,
        AwsError,
        "creating trail main: it",
    ),
    (client_error("InvalidRange", 416, "bad range"), True, SourceError, "InvalidRange reading s3://"),
]


@pytest.mark.parametrize(("error", "source", "cls", "needle"), CASES)
def test_aws_errors_become_trailduck_errors(
    error: Exception, source: bool, cls: type[TrailduckError], needle: str
) -> None:
    translated = translate(error, READ if source else CREATE)
    assert type(translated) is cls
    assert needle in str(translated)
    # The trail source's errors and the others never mix: setting up a trail is not reading the trail.
    assert isinstance(translated, SourceError) == (source and cls is not ConfigError)
    assert isinstance(translated, AwsError) == (not source and cls is not ConfigError)


def test_a_refused_read_says_what_else_it_may_need() -> None:
    denied = translate(client_error("AccessDenied", 403), READ, if_denied="and kms:Decrypt")
    assert str(denied).endswith("(and kms:Decrypt)")
    other = translate(client_error("InternalError", 500), READ, if_denied="and kms:Decrypt")
    assert "kms:Decrypt" not in str(other)


def test_the_next_step_ends_every_message() -> None:
    for error in (client_error("AccessDeniedException"), client_error("Boom", 500), ConnectionResetError()):
        message = str(translate(error, CREATE, next_step="or verify offline with --public-keys FILE"))
        assert message.endswith("; or verify offline with --public-keys FILE")


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (client_error("SlowDown", 503), True),
        (client_error("503", 503), True),
        (client_error("500", 500), True),
        (client_error("InternalError", 500), True),
        (client_error("ServiceUnavailable", 503), True),
        (client_error("RequestTimeout", 400), True),
        (client_error("RequestTimeTooSkewed", 403), True),
        (client_error("ThrottlingException", 400), True),
        (client_error("Throttling", 400), True),
        (client_error("SomethingNew", 502), True),  # any 5xx, as botocore's retries judge
        (client_error("AccessDenied", 403), False),
        (client_error("NoSuchKey", 404), False),
        (client_error("SomethingNew", 400), False),
        (client_error("NotImplemented", 501), False),  # a 5xx that says the same every time
        (client_error("PreconditionFailed", 412), False),  # a conditional write: the same request fails again
        (client_error("ConditionalRequestConflict", 409), False),
        (botocore.exceptions.NoCredentialsError(), False),
        (
            botocore.exceptions.PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY"),
            False,
        ),
        # The instance's or container's credential endpoint did not answer: it does on the next try.
        (
            botocore.exceptions.CredentialRetrievalError(provider="container-role", error_msg="timed out"),
            True,
        ),
        (botocore.exceptions.ParamValidationError(report="bad"), False),
        (botocore.exceptions.ProfileNotFound(profile="x"), False),
        # Connections that broke: a reset, a timeout, a body cut off mid-read.
        (ConnectionResetError(), True),
        (botocore.exceptions.ReadTimeoutError(endpoint_url="http://x"), True),
        (botocore.exceptions.ResponseStreamingError(error="cut"), True),
    ],
)
def test_what_is_worth_retrying(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient


def test_the_code_is_read_from_the_response_without_botocore() -> None:
    class Answer(Exception):
        def __init__(self) -> None:
            self.response = {"Error": {"Code": "AccessDenied"}, "ResponseMetadata": {"HTTPStatusCode": 403}}

    assert aws_code(Answer()) == "AccessDenied" and aws_fault(Answer()) is AwsFault.DENIED
    assert aws_code(ValueError()) is None
    assert aws_code(botocore.exceptions.ClientError({}, "Op")) == ""


def test_refusals_are_told_apart_from_bad_credentials() -> None:
    """A missing permission names the permission; refused credentials say to renew them: two faults."""
    for code in ("AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AllAccessDisabled"):
        assert AWS_CODES[code] is AwsFault.DENIED
    for code in ("InvalidAccessKeyId", "ExpiredToken", "InvalidClientTokenId", "SignatureDoesNotMatch"):
        assert AWS_CODES[code] is AwsFault.CREDENTIALS


def test_a_refused_conditional_write_is_a_conflict() -> None:
    """412 (If-Match or If-None-Match did not hold) and 409 (a conditional write racing another): one fault,
    which the checkpoint and the lease tell apart from every other failure."""
    for code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
        assert AWS_CODES[code] is AwsFault.CONFLICT


def test_whether_botocore_had_retried_is_read_from_the_answer() -> None:
    retried = client_error("PreconditionFailed", 412)
    retried.response["ResponseMetadata"]["RetryAttempts"] = 1
    assert aws_retried(retried)
    assert not aws_retried(client_error("PreconditionFailed", 412))
    assert not aws_retried(ConnectionResetError())


def test_the_error_table_does_not_import_botocore() -> None:
    code = "import sys, trailduck.errors; assert 'botocore' not in sys.modules and 'boto3' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)

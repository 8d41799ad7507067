"""Errors from MTurk, translated into messages a researcher can act on."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
)


class MTurkError(Exception):
    """A failed MTurk call; ``str(error)`` is the researcher-facing message."""


class NoCredentials(MTurkError):
    pass


class InsufficientFunds(MTurkError):
    pass


class NotFound(MTurkError):
    pass


class InvalidState(MTurkError):
    pass


class Throttled(MTurkError):
    pass


class ServiceUnavailable(MTurkError):
    pass


class RequestRejected(MTurkError):
    pass


class ReusedToken(MTurkError):
    """The request's UniqueRequestToken already did its work: the change is already made."""


NO_CREDENTIALS = (
    "No AWS credentials found. Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use an "
    "AWS profile (`aws configure`, AWS_PROFILE), for the account that owns your MTurk "
    "requester."
)
_KIND_BY_TURK_CODE: dict[str, type[MTurkError]] = {
    "InsufficientFunds": InsufficientFunds,
    "DoesNotExist": NotFound,
    "InvalidAssignmentState": InvalidState,
    "InvalidHITState": InvalidState,
    "InvalidMaximumAssignmentsIncrease": InvalidState,
}
_THROTTLING_CODES = {"ThrottlingException", "Throttling", "TooManyRequestsException"}
_CREDENTIAL_CODES = {"UnrecognizedClientException", "InvalidSignatureException",
                     "AccessDeniedException", "InvalidClientTokenId"}


def turk_code(error: ClientError) -> str:
    """MTurk's TurkErrorCode of a RequestError ("" when there is none)."""
    return str(error.response.get("TurkErrorCode") or "")


def is_reused_token(error: ClientError) -> bool:
    """True when MTurk refused a request because its UniqueRequestToken already did the work."""
    code = turk_code(error)
    message = str(error.response.get("Error", {}).get("Message", ""))
    return code.endswith(("HitAlreadyExists", "DuplicateRequest")) or (
        "uniquerequesttoken" in message.lower()
    )


def _kind_of(error: ClientError) -> type[MTurkError]:
    code = str(error.response.get("Error", {}).get("Code", ""))
    if code in _THROTTLING_CODES:
        return Throttled
    if code in _CREDENTIAL_CODES:
        return NoCredentials
    if code == "ServiceFault" or error.response.get("ResponseMetadata", {}).get(
            "HTTPStatusCode", 0) >= 500:
        return ServiceUnavailable
    for fragment, kind in _KIND_BY_TURK_CODE.items():
        if fragment in turk_code(error):
            return kind
    return RequestRejected


def _client_message(error: ClientError, operation: str) -> str:
    kind = _kind_of(error)
    text = str(error.response.get("Error", {}).get("Message", "")).strip()
    if kind is Throttled:
        return (f"MTurk is throttling {operation} calls (rate exceeded) and the retries ran out. "
                "Wait a minute and run the command again; finished work is not repeated.")
    if kind is ServiceUnavailable:
        return (f"MTurk had an internal error during {operation} and the retries ran out: "
                f"{text} Run the command again; finished work is not repeated.")
    if kind is NoCredentials:
        return f"MTurk refused the AWS credentials ({text}). {NO_CREDENTIALS}"
    if kind is InsufficientFunds:
        return (f"Your MTurk account does not hold enough money for {operation}: {text} "
                "Add funds (live: requester.mturk.com > My Account), then run it again.")
    return f"MTurk refused {operation}: {text}"


def translate(error: Exception, operation: str, endpoint: str) -> MTurkError:
    """Our error, with a plain message, for anything boto3 raised during ``operation``."""
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return NoCredentials(NO_CREDENTIALS)
    if isinstance(error, ClientError) and is_reused_token(error):
        return ReusedToken(str(error.response.get("Error", {}).get("Message", "")))
    if isinstance(error, ClientError):
        return _kind_of(error)(_client_message(error, operation))
    if isinstance(error, EndpointConnectionError):
        return ServiceUnavailable(
            f"Cannot reach MTurk at {endpoint}. Check the network, or MTURK_ENDPOINT_URL "
            "(is `flask simulator run` still running?).")
    if isinstance(error, ParamValidationError):
        return RequestRejected(f"Invalid {operation} request: {error}")
    if isinstance(error, BotoCoreError):
        return ServiceUnavailable(f"MTurk call {operation} failed: {error}")
    raise error

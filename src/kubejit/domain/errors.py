"""The one error hierarchy of kubejit, and the one table that says what each error means at each edge.

Every layer raises these; each entrypoint speaks its own language: the HTTP API a status code and an error type,
the gateway a Kubernetes ``Status`` (code and reason), the CLI an exit code (DESIGN.md section 4), and the CLI's
broker client turns a status code back into an error. All of them read :data:`ERROR_TABLE` through
:func:`meaning_of`, which walks the error's class hierarchy (its MRO) the way starlette finds an exception handler,
so a subclass without an entry of its own means what its parent means, and adding an error class is one edit here.

A message is always written for the person who has to act on it: what is wrong, where, and what to do.

This module stays light (no dataclasses, no typing at run time): ``kubejit token``, which must start fast, imports
it on its error path.
"""

from __future__ import annotations

# The CLI's exit codes (DESIGN.md section 4).
EXIT_OK = 0
EXIT_REFUSED = 1  # refused by policy, or not found
EXIT_USAGE = 2  # bad input or usage
EXIT_UNREACHABLE = 3  # cannot reach a server


class KubejitError(Exception):
    """Base of every error kubejit raises on purpose."""


class InvalidInput(KubejitError):
    """The caller sent something malformed: a bad file, argument, body or token shape."""


class TooLarge(InvalidInput):
    """The caller sent more than kubejit accepts (a request body over its limit)."""


class Refused(KubejitError):
    """Well-formed, but policy says no."""


class NotFound(KubejitError):
    """The thing asked about does not exist (or the caller may not know that it does)."""


class Unavailable(KubejitError):
    """A server or process kubejit depends on cannot be reached or did not start."""


class Conflict(KubejitError):
    """The request or grant is not in a state that allows this (e.g. approving an expired request)."""


class StaleWrite(Conflict):
    """Someone else changed the record since it was read; read it again and retry."""


class Unauthenticated(KubejitError):
    """No valid credentials: a missing, expired, forged or foreign token."""


class ErrorMeaning:
    """What one kind of error is at each edge: HTTP status, the API's error type, the Kubernetes ``Status`` reason
    (metav1.StatusReason) and the CLI's exit code."""

    __slots__ = ("api_type", "exit_code", "http_status", "status_reason")

    def __init__(self, http_status: int, api_type: str, status_reason: str, exit_code: int) -> None:
        self.http_status = http_status
        self.api_type = api_type
        self.status_reason = status_reason
        self.exit_code = exit_code

    def __repr__(self) -> str:
        return f"ErrorMeaning({self.http_status}, {self.api_type!r}, {self.status_reason!r}, exit {self.exit_code})"


ERROR_TABLE: dict[type[KubejitError], ErrorMeaning] = {
    KubejitError: ErrorMeaning(500, "error", "InternalError", EXIT_REFUSED),
    InvalidInput: ErrorMeaning(400, "invalid", "BadRequest", EXIT_USAGE),
    TooLarge: ErrorMeaning(413, "too-large", "RequestEntityTooLarge", EXIT_USAGE),
    Unauthenticated: ErrorMeaning(401, "unauthenticated", "Unauthorized", EXIT_REFUSED),
    Refused: ErrorMeaning(403, "refused", "Forbidden", EXIT_REFUSED),
    NotFound: ErrorMeaning(404, "not-found", "NotFound", EXIT_REFUSED),
    Conflict: ErrorMeaning(409, "conflict", "Conflict", EXIT_REFUSED),
    Unavailable: ErrorMeaning(503, "unavailable", "ServiceUnavailable", EXIT_UNREACHABLE),
}

# Statuses a server may answer that no kubejit error produces, and what they mean to a client of the broker.
_STATUS_ALIASES: dict[int, type[KubejitError]] = {422: InvalidInput}  # a framework's own body validation
_UNKNOWN_STATUS = Unavailable  # a 5xx (or anything else) without an entry: the broker is not answering as it should


def meaning_of(error: BaseException | type[BaseException]) -> ErrorMeaning:
    """The table's entry for ``error``'s nearest class along its MRO; an error that is no :class:`KubejitError`
    means what the base class means (an internal error)."""
    cls = error if isinstance(error, type) else type(error)
    for klass in cls.__mro__:
        meaning = ERROR_TABLE.get(klass)
        if meaning is not None:
            return meaning
    return ERROR_TABLE[KubejitError]


def error_for_status(status: int) -> type[KubejitError]:
    """The error class a client raises for an HTTP error status from the broker (the table read backwards: the
    first class registered with that status, so a subclass never shadows its parent)."""
    for cls, meaning in ERROR_TABLE.items():
        if meaning.http_status == status and cls is not KubejitError:
            return cls
    return _STATUS_ALIASES.get(status, _UNKNOWN_STATUS)


def exit_code_for(error: BaseException | type[BaseException]) -> int:
    """The CLI's exit code for ``error``."""
    return meaning_of(error).exit_code

"""The one error table: every entrypoint's mapping comes from it, found along the error class's MRO."""

from __future__ import annotations

import pytest

from kubejit.domain import errors
from kubejit.domain.errors import (
    ERROR_TABLE,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Conflict,
    InvalidInput,
    KubejitError,
    NotFound,
    Refused,
    StaleWrite,
    TooLarge,
    Unauthenticated,
    Unavailable,
    error_for_status,
    exit_code_for,
    meaning_of,
)
from kubejit.entrypoints.api.app import error_response
from kubejit.entrypoints.gateway.proxy import refusal_for


def _all_error_classes() -> list[type[KubejitError]]:
    found = [value for value in vars(errors).values() if isinstance(value, type) and issubclass(value, KubejitError)]
    return sorted(found, key=lambda cls: cls.__name__)


@pytest.mark.parametrize(
    ("error", "status", "reason", "exit_code"),
    [
        (InvalidInput("x"), 400, "BadRequest", EXIT_USAGE),
        (TooLarge("x"), 413, "RequestEntityTooLarge", EXIT_USAGE),
        (Unauthenticated("x"), 401, "Unauthorized", EXIT_REFUSED),
        (Refused("x"), 403, "Forbidden", EXIT_REFUSED),
        (NotFound("x"), 404, "NotFound", EXIT_REFUSED),
        (Conflict("x"), 409, "Conflict", EXIT_REFUSED),
        (StaleWrite("x"), 409, "Conflict", EXIT_REFUSED),
        (Unavailable("x"), 503, "ServiceUnavailable", EXIT_UNREACHABLE),
        (KubejitError("x"), 500, "InternalError", EXIT_REFUSED),
    ],
)
def test_each_error_means_one_thing_at_every_edge(
    error: KubejitError, status: int, reason: str, exit_code: int
) -> None:
    meaning = meaning_of(error)
    assert (meaning.http_status, meaning.status_reason, meaning.exit_code) == (status, reason, exit_code)
    assert error_response(error).status_code == status
    assert refusal_for(error) == (status, reason)
    assert exit_code_for(error) == exit_code


def test_a_subclass_without_an_entry_means_what_its_nearest_parent_means() -> None:
    class OddStaleWrite(StaleWrite):
        pass

    class Mixed(Unavailable, Refused):  # the MRO decides: Unavailable comes first
        pass

    assert meaning_of(OddStaleWrite) is ERROR_TABLE[Conflict]
    assert meaning_of(Mixed("x")) is ERROR_TABLE[Unavailable]


def test_errors_that_are_not_kubejits_are_internal_errors() -> None:
    assert meaning_of(ValueError("x")) is ERROR_TABLE[KubejitError]
    assert meaning_of(ValueError).http_status == 500


def test_every_error_class_in_the_hierarchy_is_reachable_and_the_table_holds_only_them() -> None:
    classes = _all_error_classes()
    assert set(ERROR_TABLE) <= set(classes)
    for cls in classes:
        assert meaning_of(cls) is ERROR_TABLE[next(k for k in cls.__mro__ if k in ERROR_TABLE)]


def test_a_413_is_its_own_error_and_still_bad_input() -> None:
    assert issubclass(TooLarge, InvalidInput)
    response = error_response(TooLarge("the request body is larger than 10 bytes"))
    assert response.status_code == 413
    assert b'"type":"too-large"' in response.body


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, InvalidInput),
        (401, Unauthenticated),
        (403, Refused),
        (404, NotFound),
        (409, Conflict),
        (413, TooLarge),
        (422, InvalidInput),
        (500, Unavailable),
        (502, Unavailable),
        (503, Unavailable),
        (418, Unavailable),
    ],
)
def test_a_client_reads_the_table_backwards(status: int, cls: type[KubejitError]) -> None:
    assert error_for_status(status) is cls


def test_reading_backwards_then_forwards_gives_the_status_back() -> None:
    for cls, meaning in ERROR_TABLE.items():
        if cls is not KubejitError:
            assert meaning_of(error_for_status(meaning.http_status)).http_status == meaning.http_status


def test_only_the_401_answer_asks_for_a_bearer_token() -> None:
    assert error_response(Unauthenticated("x")).headers.get("www-authenticate") == 'Bearer realm="kubejit"'
    assert "www-authenticate" not in error_response(Refused("x")).headers

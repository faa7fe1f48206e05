"""What ``kubejit login`` says to do next, for the person who signed in: the profiles the policy lets them request
(the first one filled into the request line), what waits for their review, or whom to ask when there is nothing."""

from __future__ import annotations

from kubejit.entrypoints.cli.login import next_steps


def test_a_requester_is_shown_their_profiles_and_the_request_line_with_the_first() -> None:
    said = next_steps(["debug", "ops"], 0)
    assert said.splitlines()[0] == "you may request debug, ops (kubejit profiles says what each allows)"
    assert said.splitlines()[1].startswith("next: kubejit request debug -n NAMESPACE --for 1h --reason ...")
    assert "review" not in said


def test_an_approver_is_told_what_waits_for_their_review() -> None:
    assert next_steps([], 1) == "1 request waits for your review: kubejit list --pending"
    assert next_steps(["debug"], 3).startswith("3 requests wait for your review: kubejit list --pending\n")


def test_a_long_list_of_profiles_is_cut_short() -> None:
    said = next_steps([f"p{i}" for i in range(8)], 0)
    assert "you may request p0, p1, p2, p3, p4 and 3 more" in said


def test_someone_who_may_request_nothing_is_told_whom_to_ask() -> None:
    assert next_steps([], 0) == (
        "the policy lets you request no profile yet: ask your kubejit admins to add you as a requester"
    )


def test_a_broker_that_cannot_say_gets_the_general_line() -> None:
    assert next_steps(None, None).startswith("next: kubejit request PROFILE -n NAMESPACE")

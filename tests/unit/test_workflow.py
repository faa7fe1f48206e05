"""The request workflow: each rule of the issue as an example, then properties over random event sequences."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubejit.domain import workflow as wf
from kubejit.domain.errors import Conflict, InvalidInput, KubejitError, NotFound, Refused
from kubejit.domain.policy import AccessPolicy, Identity
from kubejit.domain.workflow import AccessRequest, State, Verdict
from tests.unit.policies import (
    ALICE,
    BOB,
    CAROL,
    DAVE,
    ERIN,
    PEOPLE,
    auto_for_oncall,
    break_glass,
    policy,
    profile,
    quorum_of_two,
)

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
POLICY = policy(profile(), quorum_of_two(), auto_for_oncall(), break_glass())


def submit(
    who: Identity = ALICE,
    profile_name: str = "payments-debug",
    namespaces: tuple[str, ...] = ("payments",),
    duration: timedelta | None = timedelta(minutes=30),
    reason: str = "INC-42 checkout errors",
    now: datetime = T0,
    **kwargs: bool,
) -> AccessRequest:
    return wf.submit(
        POLICY,
        request_id="r1",
        profile_name=profile_name,
        requester=who,
        namespaces=namespaces,
        duration=duration,
        reason=reason,
        now=now,
        **kwargs,
    )


def test_full_flow_pending_approved_active_expired() -> None:
    request = submit()
    assert request.state is State.PENDING
    approved = wf.approve(POLICY, request, BOB, T0 + timedelta(minutes=1), "ok")
    assert approved.state is State.APPROVED
    active = wf.activate(approved, T0 + timedelta(minutes=2))
    assert active.ends_at == T0 + timedelta(minutes=32)
    assert active.grants_access_at(T0 + timedelta(minutes=31, seconds=59))
    assert not active.grants_access_at(T0 + timedelta(minutes=32))
    with pytest.raises(Conflict):
        wf.expire(active, T0 + timedelta(minutes=31))
    expired = wf.expire(active, T0 + timedelta(minutes=32))
    assert expired.state is State.EXPIRED
    assert not expired.grants_access_at(T0 + timedelta(minutes=10))


def test_requester_must_be_allowed_by_the_profile() -> None:
    with pytest.raises(Refused, match="dave may not request profile payments-debug"):
        submit(DAVE)


def test_namespaces_must_match_the_profile() -> None:
    assert submit(namespaces=("payments-eu",)).namespaces == ("payments-eu",)
    with pytest.raises(Refused, match="does not cover namespace kube-system"):
        submit(namespaces=("kube-system",))
    with pytest.raises(InvalidInput, match="needs at least one namespace"):
        submit(namespaces=())
    with pytest.raises(InvalidInput, match="not a namespace name"):
        submit(namespaces=("payments-*",))


def test_duration_is_capped_by_max_duration_and_defaults_apply() -> None:
    with pytest.raises(Refused, match="1h30m is longer than profile payments-debug allows \\(1h\\)"):
        submit(duration=timedelta(minutes=90))
    assert submit(duration=None).duration == timedelta(minutes=30)
    with pytest.raises(InvalidInput):
        submit(duration=timedelta(0))


def test_reason_required_and_pattern() -> None:
    with pytest.raises(InvalidInput, match="reason is required"):
        submit(reason="  ")
    with pytest.raises(InvalidInput, match="must match"):
        submit(reason="just looking")


def test_unknown_profile_is_not_found() -> None:
    with pytest.raises(NotFound, match="no access profile 'nope'"):
        submit(profile_name="nope")


def test_self_approval_is_refused_unless_allowed() -> None:
    request = submit(BOB)
    with pytest.raises(Refused, match="cannot review their own request"):
        wf.approve(POLICY, request, BOB, T0)


def test_only_approvers_or_admins_review() -> None:
    request = submit()
    with pytest.raises(Refused, match="dave may not review"):
        wf.approve(POLICY, request, DAVE, T0)
    assert wf.approve(POLICY, request, ERIN, T0).state is State.APPROVED  # admins may


def test_quorum_counts_distinct_approvers() -> None:
    request = submit(profile_name="payments-admin")
    once = wf.approve(POLICY, request, BOB, T0)
    assert once.state is State.PENDING
    with pytest.raises(Conflict, match="already reviewed"):
        wf.approve(POLICY, once, BOB, T0)
    twice = wf.approve(POLICY, once, CAROL, T0)
    assert twice.state is State.APPROVED
    assert twice.approvers == ("bob", "carol")


def test_a_denial_ends_the_request() -> None:
    request = wf.approve(POLICY, submit(profile_name="payments-admin"), BOB, T0)
    with pytest.raises(InvalidInput, match="needs a comment"):
        wf.deny(POLICY, request, CAROL, T0, " ")
    denied = wf.deny(POLICY, request, CAROL, T0, "not during the freeze")
    assert denied.state is State.DENIED
    with pytest.raises(Conflict, match="it is denied"):
        wf.approve(POLICY, denied, ERIN, T0)


def test_auto_approve() -> None:
    request = submit(CAROL, "payments-oncall")
    assert request.state is State.APPROVED
    assert request.auto_approved
    assert submit(ALICE, "payments-oncall").state is State.PENDING


def test_pending_timeout() -> None:
    request = submit()
    late = T0 + timedelta(hours=1)
    with pytest.raises(Conflict, match="pending timeout"):
        wf.approve(POLICY, request, BOB, late)
    with pytest.raises(Conflict):
        wf.time_out(POLICY, request, late - timedelta(seconds=1))
    assert wf.time_out(POLICY, request, late).state is State.TIMED_OUT


def test_cancel_only_by_requester_or_admin_before_activation() -> None:
    request = submit()
    with pytest.raises(Refused):
        wf.cancel(POLICY, request, BOB, T0)
    assert wf.cancel(POLICY, request, ALICE, T0).state is State.CANCELLED
    active = wf.activate(wf.approve(POLICY, request, BOB, T0), T0)
    with pytest.raises(Conflict):
        wf.cancel(POLICY, active, ALICE, T0)


def test_early_revoke_by_requester_approver_or_admin() -> None:
    active = wf.activate(wf.approve(POLICY, submit(), BOB, T0), T0)
    with pytest.raises(Refused, match="dave may not revoke"):
        wf.revoke(POLICY, active, DAVE, T0)
    for who in (ALICE, BOB, ERIN):
        revoked = wf.revoke(POLICY, active, who, T0 + timedelta(minutes=5), "done")
        assert revoked.state is State.REVOKED
        assert revoked.ends_at == T0 + timedelta(minutes=5)
        assert not revoked.grants_access_at(T0 + timedelta(minutes=6))


def test_extension_needs_approval_and_respects_the_cap() -> None:
    active = wf.activate(wf.approve(POLICY, submit(duration=timedelta(minutes=40)), BOB, T0), T0)
    with pytest.raises(Refused, match="extend by 20m at most"):
        wf.request_extension(POLICY, active, ALICE, timedelta(minutes=30), "more", T0)
    asked = wf.request_extension(POLICY, active, ALICE, timedelta(minutes=20), "INC-42 still open", T0)
    assert asked.ends_at == active.ends_at
    with pytest.raises(Conflict, match="already has an extension"):
        wf.request_extension(POLICY, asked, ALICE, timedelta(minutes=5), "more", T0)
    with pytest.raises(Refused, match="alice may not review"):
        wf.review_extension(POLICY, asked, ALICE, Verdict.APPROVE, T0)
    extended = wf.review_extension(POLICY, asked, BOB, Verdict.APPROVE, T0)
    assert extended.ends_at == T0 + timedelta(hours=1)
    with pytest.raises(Refused, match="no time is left"):
        wf.request_extension(POLICY, extended, ALICE, timedelta(minutes=1), "more", T0)


def test_extension_is_auto_approved_for_auto_approve_subjects() -> None:
    active = wf.activate(submit(CAROL, "payments-oncall", duration=timedelta(hours=1)), T0)
    extended = wf.request_extension(POLICY, active, CAROL, timedelta(minutes=45), "still fixing", T0)
    assert extended.ends_at == T0 + timedelta(hours=1, minutes=45)


def test_break_glass_is_self_activated_flagged_and_reviewed_after() -> None:
    with pytest.raises(Refused, match="may not break the glass"):
        submit(ALICE, "payments-emergency", break_glass=True)
    with pytest.raises(Refused, match="may not break the glass"):
        submit(CAROL, "payments-debug", break_glass=True)
    request = submit(CAROL, "payments-emergency", break_glass=True)
    assert request.state is State.APPROVED
    assert request.break_glass
    active = wf.activate(request, T0)
    with pytest.raises(Refused):
        wf.review_break_glass(POLICY, active, CAROL, Verdict.APPROVE, T0, "I was right")
    reviewed = wf.review_break_glass(POLICY, active, BOB, Verdict.APPROVE, T0, "justified by INC-42")
    assert reviewed.break_glass_review is not None
    with pytest.raises(Refused, match="cannot be extended"):
        wf.request_extension(POLICY, active, CAROL, timedelta(minutes=5), "more", T0)


# ---- properties over random event sequences -------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    kind: str
    who: Identity
    minutes: int


events = st.lists(
    st.builds(
        Event,
        # approvals and activations are weighted up so that deep sequences are common
        kind=st.sampled_from(
            ["approve"] * 4
            + ["activate"] * 2
            + ["deny", "cancel", "expire", "revoke", "time_out", "extend"]
            + ["review_ext"] * 2
        ),
        who=st.sampled_from(PEOPLE),
        minutes=st.integers(min_value=0, max_value=30),
    ),
    max_size=12,
)


def apply(policy_: AccessPolicy, request: AccessRequest, event: Event, now: datetime) -> AccessRequest:
    match event.kind:
        case "approve":
            return wf.approve(policy_, request, event.who, now)
        case "deny":
            return wf.deny(policy_, request, event.who, now, "no")
        case "cancel":
            return wf.cancel(policy_, request, event.who, now)
        case "activate":
            return wf.activate(request, now)
        case "expire":
            return wf.expire(request, now)
        case "revoke":
            return wf.revoke(policy_, request, event.who, now)
        case "time_out":
            return wf.time_out(policy_, request, now)
        case "extend":
            return wf.request_extension(policy_, request, event.who, timedelta(minutes=event.minutes + 1), "INC-1", now)
        case _:
            return wf.review_extension(policy_, request, event.who, Verdict.APPROVE, now)


@settings(max_examples=1500, deadline=None, database=None)
@given(
    requester=st.sampled_from(PEOPLE),
    profile_name=st.sampled_from(["payments-debug", "payments-admin", "payments-oncall", "payments-emergency"]),
    break_glass_=st.booleans(),
    sequence=events,
)
def test_no_sequence_activates_without_policy_or_outlives_its_end(
    requester: Identity, profile_name: str, break_glass_: bool, sequence: list[Event]
) -> None:
    try:
        request = submit(requester, profile_name, duration=timedelta(minutes=20), break_glass=break_glass_)
    except KubejitError:
        return
    prof = POLICY.profile(profile_name)
    assert prof is not None
    now = T0
    for event in sequence:
        now += timedelta(minutes=event.minutes)
        before = request
        try:
            request = apply(POLICY, request, event, now)
        except KubejitError:
            assert request == before
            continue
        if request.state in (State.APPROVED, State.ACTIVE) or request.starts_at is not None:
            # Activation needs the requester to be allowed and approval by policy (or break-glass/auto).
            if request.break_glass:
                assert prof.break_glass is not None
                assert prof.break_glass.allowed.includes(requester)
            else:
                assert prof.requesters.includes(requester)
                approvers = {r for r in request.approvers if r != requester.user or prof.approval.allow_self_approval}
                assert request.auto_approved or len(approvers) >= prof.approval.required
                assert request.auto_approved == prof.approval.auto_approve.includes(requester)
        if request.starts_at is not None and request.ends_at is not None:
            cap = POLICY.max_extended_duration_of(prof)
            assert request.ends_at - request.starts_at <= cap
            assert not request.grants_access_at(request.ends_at)
            assert not request.grants_access_at(request.starts_at + cap)
        if request.state in wf.ENDED:
            assert not request.grants_access_at(now)

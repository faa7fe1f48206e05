"""Workloads named by the claims of their tokens: a claims rule matches only when all its claims match; the
auto-approval respects ``autoApprove.maxDuration`` (for the request and for the grant's whole life with
extensions), the audit trail records the claims that matched and why a longer request waits, the trust check
holds a stored grant to the same rules, and the claims survive the request's trip through the store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from kubejit.adapters.store.documents import from_document, to_document
from kubejit.domain import workflow as wf
from kubejit.domain.errors import Refused
from kubejit.domain.grant_validity import grant_problems
from kubejit.domain.policy import Approval, ClaimMatch, Identity, ReasonRule, Subjects
from kubejit.domain.workflow import State
from kubejit.services.access import AccessService
from tests.unit.fakes import FakeClock, FakeStore, RecordingNotifier
from tests.unit.policies import BOB, policy, profile

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
DEPLOYER = ClaimMatch((("kubernetes.io/namespace", "ci"), ("kubernetes.io/serviceaccount/name", "deploy*")))
CI_JOB = Identity(
    "ci:system:serviceaccount:ci:deployer",
    claims=(("kubernetes.io/namespace", "ci"), ("kubernetes.io/serviceaccount/name", "deployer")),
)
CI_PROFILE = profile(
    "ci-deploy",
    requesters=Subjects(claims=(DEPLOYER,)),
    approval=Approval(
        approvers=Subjects(groups=frozenset({"payments-leads"})),
        auto_approve=Subjects(claims=(DEPLOYER,)),
        auto_approve_max_duration=timedelta(minutes=15),
    ),
    reason=ReasonRule(required=False),
)
POLICY = policy(CI_PROFILE)


def test_a_claims_rule_needs_all_its_claims_and_any_rule_is_enough() -> None:
    assert DEPLOYER.matches(CI_JOB)
    other_namespace = Identity(CI_JOB.user, claims=(("kubernetes.io/namespace", "dev"), *CI_JOB.claims[1:]))
    assert not DEPLOYER.matches(other_namespace)
    assert not DEPLOYER.matches(Identity(CI_JOB.user, claims=CI_JOB.claims[:1]))  # one claim missing
    either = Subjects(claims=(ClaimMatch((("repository", "acme/other"),)), DEPLOYER))
    assert either.includes(CI_JOB)
    assert not Subjects(claims=(ClaimMatch(()),)).includes(CI_JOB)  # no conditions names nobody
    assert not ClaimMatch((("kubernetes.io/namespace", "C*"),)).matches(CI_JOB)  # case-sensitive


def submit(duration: timedelta, who: Identity = CI_JOB) -> wf.AccessRequest:
    return wf.submit(
        POLICY,
        request_id="req-1",
        profile_name="ci-deploy",
        requester=who,
        namespaces=("payments",),
        duration=duration,
        reason="",
        now=NOW,
    )


def test_only_requests_within_max_duration_are_auto_approved() -> None:
    short = submit(timedelta(minutes=15))
    assert (short.state, short.auto_approved) == (State.APPROVED, True)
    long = submit(timedelta(minutes=30))
    assert (long.state, long.auto_approved) == (State.PENDING, False)
    assert wf.auto_approval_note(POLICY, long) == (
        "not auto-approved: 30m is longer than autoApprove.maxDuration (15m), so it waits for approvers"
    )
    assert wf.auto_approval_note(POLICY, short) is None


def test_an_extension_past_max_duration_waits_for_approvers() -> None:
    active = wf.activate(submit(timedelta(minutes=10)), NOW)
    within = wf.request_extension(POLICY, active, CI_JOB, timedelta(minutes=5), "more", NOW)
    assert within.extensions[-1].auto_approved
    beyond = wf.request_extension(POLICY, within, CI_JOB, timedelta(minutes=5), "more", NOW)
    assert beyond.extensions[-1].state is State.PENDING


def test_the_audit_trail_records_the_matched_claims_and_why_a_request_waits() -> None:
    store = FakeStore()
    service = AccessService(lambda: POLICY, store, FakeClock(NOW), RecordingNotifier())
    service.submit(CI_JOB, profile="ci-deploy", namespaces=("payments",), duration=timedelta(minutes=5), reason="")
    service.submit(CI_JOB, profile="ci-deploy", namespaces=("payments",), duration=timedelta(hours=1), reason="")
    events = store.db.audit
    auto = next(e for e in events if e.kind == "request.auto-approved")
    assert auto.data == {
        "maxDuration": "15m",
        "claims": {"kubernetes.io/namespace": "ci", "kubernetes.io/serviceaccount/name": "deployer"},
    }
    submitted = [e for e in events if e.kind == "request.submitted"]
    assert submitted[0].data["claims"] == dict(CI_JOB.claims)
    assert "autoApproval" not in submitted[0].data
    assert submitted[1].data["autoApproval"]["notAutoApproved"].startswith("1h is longer than autoApprove")


def test_the_trust_check_holds_a_stored_grant_to_the_claims_and_the_cap() -> None:
    granted = submit(timedelta(minutes=10))
    assert grant_problems(POLICY, granted) == []
    # A stored row whose requester lost the claims (or never had them) is not an auto-approved grant.
    assert grant_problems(POLICY, replace(granted, requester=Identity(CI_JOB.user)))
    too_long = replace(granted, duration=timedelta(minutes=20))
    assert any("autoApprove.maxDuration" in p for p in grant_problems(POLICY, too_long))


def test_a_staff_member_without_the_claims_is_not_auto_approved() -> None:
    with pytest.raises(Refused):
        submit(timedelta(minutes=5), who=BOB)  # not a requester either


def test_claims_survive_the_store_and_old_rows_read_as_before() -> None:
    granted = submit(timedelta(minutes=10))
    document = to_document(granted)
    assert from_document(document) == granted
    assert "claims" not in to_document(replace(granted, requester=Identity("alice")))["requester"]
    old = {**document, "requester": {"user": "alice", "groups": []}}
    assert from_document(old).requester == Identity("alice")
    with pytest.raises(ValueError, match=r"requester\.claims"):
        from_document({**document, "requester": {"user": "x", "groups": [], "claims": {"a": 1}}})

"""Domain policy values shared by the unit tests (built directly, not loaded from YAML)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from kubejit.domain.policy import (
    AccessPolicy,
    Approval,
    BreakGlass,
    Defaults,
    Identity,
    Profile,
    ReasonRule,
    RoleKind,
    RoleSource,
    Subjects,
)
from kubejit.domain.workflow import AccessRequest, Review, State, Verdict

ALICE = Identity("alice", frozenset({"payments-devs"}))
BOB = Identity("bob", frozenset({"payments-leads"}))
CAROL = Identity("carol", frozenset({"payments-leads", "sre-oncall"}))
DAVE = Identity("dave", frozenset({"auditors"}))
ERIN = Identity("erin", frozenset({"platform-admins"}))
PEOPLE = (ALICE, BOB, CAROL, DAVE, ERIN)


def profile(name: str = "payments-debug", **changes: object) -> Profile:
    base: dict[str, object] = {
        "name": name,
        "role": RoleSource(RoleKind.CLUSTER_ROLE, "view"),
        "namespaces": ("payments", "payments-*"),
        "max_duration": timedelta(hours=1),
        "requesters": Subjects(groups=frozenset({"payments-devs", "payments-leads"})),
        "approval": Approval(approvers=Subjects(groups=frozenset({"payments-leads"})), required=1),
        "reason": ReasonRule(required=True, pattern=re.compile(r"^(INC|CHG)-[0-9]+")),
    }
    base.update(changes)
    return Profile(**base)  # type: ignore[arg-type]


def policy(*profiles: Profile) -> AccessPolicy:
    return AccessPolicy(
        name="test",
        profiles=profiles or (profile(),),
        admins=Subjects(groups=frozenset({"platform-admins"})),
        auditors=Subjects(groups=frozenset({"auditors"})),
        defaults=Defaults(
            default_duration=timedelta(minutes=30), max_duration=timedelta(hours=4), pending_timeout=timedelta(hours=1)
        ),
    )


def quorum_of_two() -> Profile:
    return profile(
        "payments-admin",
        approval=Approval(approvers=Subjects(groups=frozenset({"payments-leads"})), required=2),
    )


def auto_for_oncall() -> Profile:
    return profile(
        "payments-oncall",
        requesters=Subjects(groups=frozenset({"payments-devs", "sre-oncall"})),
        approval=Approval(
            approvers=Subjects(groups=frozenset({"payments-leads"})),
            auto_approve=Subjects(groups=frozenset({"sre-oncall"})),
        ),
        max_extended_duration=timedelta(hours=2),
    )


def break_glass() -> Profile:
    return profile("payments-emergency", break_glass=BreakGlass(Subjects(groups=frozenset({"sre-oncall"}))))


GRANTED_AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def active_grant(**changes: object) -> AccessRequest:
    """Alice's grant of payments-debug in payments, approved by bob and active for 30 minutes from GRANTED_AT."""
    base = AccessRequest(
        id="req-1",
        requester=ALICE,
        profile="payments-debug",
        namespaces=("payments",),
        duration=timedelta(minutes=30),
        reason="INC-1",
        created_at=GRANTED_AT,
        state=State.ACTIVE,
        reviews=(Review("bob", Verdict.APPROVE, GRANTED_AT),),
        approved_at=GRANTED_AT,
        starts_at=GRANTED_AT,
        ends_at=GRANTED_AT + timedelta(minutes=30),
    )
    return replace(base, **changes)  # type: ignore[arg-type]

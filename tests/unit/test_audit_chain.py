"""The audit chain detects each kind of tampering: edit, deletion, insertion, reordering, truncation."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubejit.domain.audit import AuditEvent, AuditKind, Checkpoint, Tampering, canonical_json, chain_next, verify

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def chain(n: int) -> list[AuditEvent]:
    events: list[AuditEvent] = []
    for i in range(n):
        events.append(
            chain_next(
                events[-1] if events else None,
                kind="request.submitted",
                actor=f"user{i % 3}",
                request_id=f"req-{i}",
                data={"n": i, "reason": "INC-1 ünïcode"},
                at=T0 + timedelta(seconds=i),
            )
        )
    return events


def kinds(events: list[AuditEvent], checkpoint: Checkpoint | None = None) -> set[Tampering]:
    return {p.kind for p in verify(events, checkpoint).problems}


def test_an_untouched_chain_verifies_against_its_checkpoint() -> None:
    events = chain(10)
    result = verify(events, Checkpoint(10, events[-1].hash, T0))
    assert result.ok
    assert result.events == 10
    assert result.head == events[-1]
    assert events[0].prev_hash == "0" * 64


def test_edit_is_detected_at_the_edited_event() -> None:
    events = chain(5)
    events[2] = replace(events[2], data={"n": 2, "reason": "nothing to see"})
    result = verify(events)
    assert [(p.seq, p.kind) for p in result.problems] == [(3, Tampering.EDITED)]


def test_rehashing_an_edited_event_breaks_the_next_link() -> None:
    events = chain(5)
    forged = replace(events[2], actor="mallory")
    events[2] = replace(forged, hash=forged.computed_hash())
    assert kinds(events) == {Tampering.BROKEN_LINK}


def test_deletion_is_detected() -> None:
    events = chain(5)
    del events[2]
    assert kinds(events) == {Tampering.GAP, Tampering.BROKEN_LINK}


def test_insertion_is_detected() -> None:
    events = chain(5)
    intruder = chain_next(events[1], kind="grant.activated", actor="mallory", at=T0)
    events.insert(2, intruder)
    assert Tampering.GAP in kinds(events)
    assert Tampering.BROKEN_LINK in kinds(events)


def test_reordering_is_detected() -> None:
    events = chain(5)
    events[1], events[2] = events[2], events[1]
    assert {Tampering.GAP, Tampering.BROKEN_LINK} <= kinds(events)


def test_truncation_is_detected_only_with_a_checkpoint() -> None:
    events = chain(8)
    checkpoint = Checkpoint(8, events[-1].hash, T0)
    truncated = events[:5]
    assert verify(truncated).ok  # a shorter chain is consistent on its own...
    result = verify(truncated, checkpoint)
    assert [p.kind for p in result.problems] == [Tampering.TRUNCATED]  # ...but not with the head kept elsewhere
    assert "ends at event 5" in result.problems[0].message


def test_a_rewritten_trail_does_not_match_the_checkpoint() -> None:
    original = chain(4)
    rewritten = chain(3)
    rewritten.append(chain_next(rewritten[-1], kind="x", actor="mallory", at=T0))
    assert kinds(rewritten, Checkpoint(4, original[-1].hash, T0)) == {Tampering.CHECKPOINT_MISMATCH}


def test_canonical_form_is_stable_and_refuses_what_json_cannot_say() -> None:
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'.encode()
    with pytest.raises(ValueError, match="not JSON compliant"):
        chain_next(None, kind="x", actor="a", at=T0, data={"n": float("nan")})
    with pytest.raises(ValueError, match="timezone-aware"):
        chain_next(None, kind="x", actor="a", at=datetime(2026, 1, 1))


@given(st.integers(min_value=2, max_value=12), st.data())
def test_any_single_field_edit_anywhere_is_detected(n: int, data: st.DataObject) -> None:
    events = chain(n)
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    field = data.draw(st.sampled_from(["kind", "actor", "request_id", "data", "at", "seq"]))
    target = events[index]
    changed = {
        "kind": "x",
        "actor": "mallory",
        "request_id": "req-other",
        "data": {"n": -1},
        "at": target.at + timedelta(seconds=1),
        "seq": target.seq + 100,
    }[field]
    events[index] = replace(target, **{field: changed})
    assert not verify(events).ok


# The kind strings kubejit wrote before AuditKind existed: stored trails and their hashes depend on them.
KINDS_BEFORE_THE_ENUM = [
    "request.submitted",
    "request.auto-approved",
    "request.break-glass",
    "request.approved",
    "request.denied",
    "request.cancelled",
    "request.quorum-reached",
    "request.timed-out",
    "operation.refused",
    "grant.activated",
    "grant.activation-failed",
    "grant.expired",
    "grant.expiry-failed",
    "grant.revoked",
    "grant.unbind-failed",
    "grant.rebind-failed",
    "grant.extension-requested",
    "grant.extension-approved",
    "grant.extension-denied",
    "grant.break-glass-reviewed",
    "binding.created",
    "binding.deleted",
    "binding.swept",
    "policy.loaded",
    "policy.reload-failed",
    "notification.failed",
    "activity.request",
    "activity.refused",
    "activity.exec",
    "activity.session-closed",
]


def test_audit_kinds_keep_the_strings_used_before() -> None:
    # Every string used before is still a kind, in the same order; new kinds may be added (issue 10 adds some).
    assert [str(kind) for kind in AuditKind if str(kind) in KINDS_BEFORE_THE_ENUM] == KINDS_BEFORE_THE_ENUM
    assert {kind for kind in AuditKind if kind.is_activity} == {k for k in KINDS_BEFORE_THE_ENUM if "activity." in k}


def test_a_kind_given_as_enum_hashes_and_stores_as_its_string() -> None:
    as_enum = chain_next(
        None, kind=AuditKind.GRANT_EXPIRED, actor="kubejit", data={"k": AuditKind.BINDING_SWEPT}, at=T0
    )
    as_text = chain_next(None, kind="grant.expired", actor="kubejit", data={"k": "binding.swept"}, at=T0)
    assert as_enum.hash == as_text.hash
    assert type(as_enum.kind) is str

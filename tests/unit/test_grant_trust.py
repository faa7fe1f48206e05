"""A row is not a grant: the validity of a grant under the current policy, the row seal (HMAC by a key file),
the audit replay that names rows the chain does not explain, and the services that act on all three."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubejit.adapters.store.seals import RequestSealer, load_or_create_seal_key
from kubejit.domain.audit import AuditEvent
from kubejit.domain.errors import InvalidInput, Refused
from kubejit.domain.grant_validity import grant_problems
from kubejit.domain.policy import Approval, Identity, Subjects
from kubejit.domain.workflow import AccessRequest, Extension, Review, State, Verdict
from kubejit.ports import Seal, Stored
from kubejit.services.access import AccessService
from kubejit.services.audit import AuditService
from kubejit.services.audit_replay import seal_explained_rows, unexplained_rows
from kubejit.services.reconciler import GrantReconciler
from tests.unit import fakes
from tests.unit.fakes import FakeClock, FakeCluster, FakeLeader, FakeStore, MemoryCheckpoints, RecordingNotifier
from tests.unit.policies import ALICE, BOB, CAROL, DAVE, active_grant, auto_for_oncall, break_glass, policy, profile

POLICY = policy(profile(), auto_for_oncall(), break_glass())
AT = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


grant = active_grant


# ---- validity ------------------------------------------------------------------------------------------------


def test_a_grant_the_workflow_made_is_valid() -> None:
    assert grant_problems(POLICY, grant()) == []
    assert grant_problems(POLICY, grant(state=State.APPROVED, starts_at=None, ends_at=None)) == []


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"requester": Identity("mallory", frozenset({"guests"}))}, "may not request"),
        ({"namespaces": ("kube-system",)}, "does not cover namespace kube-system"),
        ({"namespaces": ()}, "names no namespace"),
        ({"namespaces": ("payments", "payments")}, "twice"),
        ({"duration": timedelta(hours=2), "ends_at": AT + timedelta(hours=2)}, "longer than profile"),
        ({"ends_at": AT + timedelta(hours=1)}, "more than its duration and approved extensions"),
        ({"reviews": ()}, "0 eligible distinct approver(s)"),
        ({"reviews": (Review("alice", Verdict.APPROVE, AT),)}, "approved by its own requester"),
        ({"reviews": (Review("bob", Verdict.DENY, AT),)}, "carries a denial"),
        ({"auto_approved": True, "reviews": ()}, "is not auto-approved"),
        ({"break_glass": True, "reviews": ()}, "may not break the glass"),
        ({"profile": "gone"}, "not in the current policy"),
        ({"state": State.EXPIRED}, "not approved or active"),
        ({"starts_at": None}, "without a start and an end time"),
    ],
)
def test_what_the_current_policy_does_not_support_is_named(changes: dict[str, object], words: str) -> None:
    problems = grant_problems(POLICY, grant(**changes))
    assert any(words in p for p in problems), problems


def test_extensions_count_against_max_extended_duration_and_need_their_own_approval() -> None:
    oncall = grant(profile="payments-oncall", requester=CAROL, reviews=(), auto_approved=True)
    extension = Extension(timedelta(minutes=30), "more", AT, State.APPROVED, auto_approved=True)
    extended = replace(oncall, extensions=(extension,), ends_at=AT + timedelta(hours=1))
    assert grant_problems(POLICY, extended) == []
    too_long = replace(
        extended,
        extensions=(replace(extension, duration=timedelta(hours=3)),),
        ends_at=AT + timedelta(hours=3, minutes=30),
    )
    assert any("more than profile payments-oncall allows" in p for p in grant_problems(POLICY, too_long))
    unreviewed = grant(
        extensions=(Extension(timedelta(minutes=10), "x", AT, State.APPROVED),), ends_at=AT + timedelta(minutes=40)
    )
    assert any("extension 1 has 0 eligible" in p for p in grant_problems(POLICY, unreviewed))


def test_a_reviewer_named_by_user_must_be_an_approver_or_admin() -> None:
    named = policy(profile(approval=Approval(approvers=Subjects(users=frozenset({"bob"})), required=1)))
    named = replace(named, admins=Subjects(users=frozenset({"erin"})))
    assert grant_problems(named, grant()) == []
    assert any(
        "dave may not review" in p for p in grant_problems(named, grant(reviews=(Review("dave", Verdict.APPROVE, AT),)))
    )


# ---- the seal -----------------------------------------------------------------------------------------------


def test_the_seal_key_is_created_0600_and_a_readable_one_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "request-seal.key"
    key = load_or_create_seal_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_seal_key(path) == key
    path.chmod(0o644)
    with pytest.raises(InvalidInput, match="chmod 600"):
        load_or_create_seal_key(path)


def test_the_seal_covers_the_document_and_the_columns() -> None:
    sealer = RequestSealer(b"k" * 32)
    row: dict[str, object] = {
        "request_id": "req-1",
        "state": "active",
        "requester": "alice",
        "profile": "p",
        "created_at": AT,
        "ends_at": AT + timedelta(minutes=30),
        "document": '{"namespaces":["payments"]}',
    }
    seal = sealer.seal(**row)  # type: ignore[arg-type]
    assert sealer.check(seal, **row) is Seal.VALID
    assert sealer.check(None, **row) is Seal.MISSING
    for name, value in [("ends_at", AT + timedelta(hours=8)), ("state", "approved"), ("document", '{"namespaces":[]}')]:
        assert sealer.check(seal, **{**row, name: value}) is Seal.BROKEN
    assert RequestSealer(b"o" * 32).check(seal, **row) is Seal.BROKEN


# ---- the services ---------------------------------------------------------------------------------------------


class World:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.clock = FakeClock(AT)
        self.cluster = FakeCluster()
        self.access = AccessService(lambda: POLICY, self.store, self.clock, RecordingNotifier())
        self.keeper = GrantReconciler(
            lambda: POLICY, self.store, self.cluster, self.clock, FakeLeader(), RecordingNotifier()
        )
        self.audit = AuditService(lambda: POLICY, self.store, self.clock, MemoryCheckpoints())

    def submit(self) -> str:
        return self.access.submit(
            ALICE, profile="payments-debug", namespaces=("payments",), duration=timedelta(minutes=30), reason="INC-1"
        ).id

    def tamper(self, request_id: str, seal: Seal = Seal.BROKEN, **changes: object) -> None:
        stored = self.store.db.requests[request_id]
        self.store.db.requests[request_id] = Stored(replace(stored.request, **changes), stored.version + 1, seal)  # type: ignore[arg-type]

    def unexplained(self) -> dict[str, tuple[str, ...]]:
        with self.store(read_only=True) as uow:
            return {row.request_id: row.reasons for row in unexplained_rows(uow)}


@pytest.fixture
def world() -> World:
    return World()


def test_every_flow_the_broker_runs_is_explained_by_the_chain(world: World) -> None:
    expired, revoked, denied = world.submit(), world.submit(), world.submit()
    for request_id in (expired, revoked):
        world.access.approve(BOB, request_id)
    world.access.deny(BOB, denied, "no")
    cancelled = world.submit()
    world.access.cancel(ALICE, cancelled)
    auto = world.access.submit(
        CAROL, profile="payments-oncall", namespaces=("payments",), duration=timedelta(minutes=30), reason="INC-2"
    ).id
    glass = world.access.submit(
        CAROL, profile="payments-emergency", namespaces=("payments",), duration=None, reason="INC-3", break_glass=True
    ).id
    world.keeper.reconcile()
    world.access.extend(CAROL, auto, timedelta(minutes=10), "more")
    world.access.revoke(ALICE, revoked, "done")
    world.access.review_break_glass(BOB, glass, Verdict.APPROVE, "fine")
    world.keeper.reconcile()
    world.clock.advance(minutes=31)
    world.keeper.reconcile()
    assert world.store.db.requests[expired].request.state is State.EXPIRED
    assert world.unexplained() == {}
    world.audit.checkpoint()
    assert world.audit.verify(DAVE).ok


def test_a_row_written_behind_the_brokers_back_is_not_bound_not_fed_and_named(world: World) -> None:
    forged = replace(
        AccessRequest("req-forged", ALICE, "payments-debug", ("payments",), timedelta(minutes=30), "INC-1", AT),
        state=State.APPROVED,
        reviews=(Review("bob", Verdict.APPROVE, AT),),
    )
    world.store.db.requests[forged.id] = Stored(forged, 1, Seal.MISSING)
    world.keeper.reconcile()
    assert forged.id not in world.cluster.bindings
    assert world.store.db.requests[forged.id].request.state is State.APPROVED  # left as found
    assert world.keeper.stats.refused == 1
    assert "the audit chain has no submission event for it" in world.unexplained()[forged.id]
    report = world.audit.verify(DAVE)
    assert not report.ok
    assert any(p.message.startswith("request req-forged:") for p in report.problems)


def test_verify_reads_the_chain_once_and_still_names_unexplained_rows(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    request_id = world.submit()
    world.tamper(request_id, namespaces=("payments-prod",))
    reads: list[int] = []
    events = fakes._Audit.events

    def counted(self: fakes._Audit, *, after_seq: int = 0) -> Iterator[AuditEvent]:
        reads.append(after_seq)
        return events(self, after_seq=after_seq)

    monkeypatch.setattr(fakes._Audit, "events", counted)
    report = world.audit.verify(DAVE)
    assert any(p.message.startswith(f"request {request_id}:") and "namespaces" in p.message for p in report.problems)
    assert reads.count(0) == 1  # the whole chain, once (the checks at one event read from there on)


def test_an_active_grant_edited_behind_the_brokers_back_loses_its_bindings(world: World) -> None:
    request_id = world.submit()
    world.access.approve(BOB, request_id)
    world.keeper.reconcile()
    assert request_id in world.cluster.bindings
    world.tamper(request_id, namespaces=("payments", "payments-prod"))
    world.clock.advance(seconds=world.keeper.trust_interval.total_seconds())  # active grants are checked again
    world.keeper.reconcile()
    assert request_id not in world.cluster.bindings
    assert any("namespaces" in r for r in world.unexplained()[request_id])


def test_an_active_grant_edited_in_place_keeping_its_version_loses_its_bindings(world: World) -> None:
    """The keeper remembers the versions it found trustworthy; a row edited behind its back without a new version
    (its seal broken) must not ride on that until the sweep."""
    request_id = world.submit()
    world.access.approve(BOB, request_id)
    world.keeper.reconcile()
    world.clock.advance(seconds=world.keeper.trust_interval.total_seconds())
    world.keeper.reconcile()  # found trustworthy at this version
    assert request_id in world.cluster.bindings
    stored = world.store.db.requests[request_id]
    edited = replace(stored.request, namespaces=("payments", "payments-prod"))
    world.store.db.requests[request_id] = Stored(edited, stored.version, Seal.BROKEN)
    world.clock.advance(seconds=world.keeper.trust_interval.total_seconds())
    world.keeper.reconcile()
    assert request_id not in world.cluster.bindings
    refusals = [
        e
        for e in world.store.db.audit
        if e.request_id == request_id and e.kind == "binding.deleted" and e.data.get("reason") == "refused"
    ]
    assert len(refusals) == 1
    assert refusals[0].data["version"] == stored.version


def test_an_active_grant_the_policy_no_longer_supports_loses_its_bindings(world: World) -> None:
    request_id = world.submit()
    world.access.approve(BOB, request_id)
    world.keeper.reconcile()
    narrower = policy(profile(namespaces=("billing",)), auto_for_oncall(), break_glass())
    world.keeper.policy = lambda: narrower
    world.keeper.reconcile()
    assert request_id not in world.cluster.bindings


def test_nobody_can_approve_or_extend_an_unsealed_row_only_end_it(world: World) -> None:
    request_id = world.submit()
    world.tamper(request_id, seal=Seal.MISSING)
    with pytest.raises(Refused, match="not written by this broker"):
        world.access.approve(BOB, request_id)
    assert world.access.cancel(ALICE, request_id).state is State.CANCELLED


def test_legacy_rows_are_sealed_only_where_the_chain_explains_them(world: World) -> None:
    kept, edited = world.submit(), world.submit()
    world.tamper(kept, seal=Seal.MISSING)
    world.tamper(edited, seal=Seal.MISSING, namespaces=("payments-prod",))
    sealed, refused = seal_explained_rows(world.store)
    assert sealed == [kept]
    assert [r.request_id for r in refused] == [edited]
    assert world.store.db.requests[kept].seal is Seal.VALID
    assert world.store.db.requests[edited].seal is Seal.MISSING


def test_planted_approved_rows_never_keep_real_grants_waiting(world: World) -> None:
    """Refused rows stay approved (left as found): a batch full of them must not starve the real approvals."""
    old = AT - timedelta(days=30)  # older approvals than any real one: first in line
    for n in range(world.keeper.batch + 10):
        planted = replace(
            AccessRequest(
                f"req-planted-{n:03d}", ALICE, "payments-debug", ("payments",), timedelta(minutes=30), "x", old
            ),
            state=State.APPROVED,
            reviews=(Review("bob", Verdict.APPROVE, old),),
            approved_at=old,
        )
        world.store.db.requests[planted.id] = Stored(planted, 1, Seal.MISSING)
    real = world.submit()
    world.access.approve(BOB, real)
    for _ in range(3):
        world.keeper.reconcile()
    assert real in world.cluster.bindings
    assert not any(request_id.startswith("req-planted-") for request_id in world.cluster.bindings)
    assert world.keeper.stats.refused == world.keeper.batch + 10  # each reported once


def test_the_activation_pass_itself_refuses_a_row_written_behind_the_brokers_back(world: World) -> None:
    """Defence in depth: the activation pass checks the row again, whatever the trust pass did before it."""
    forged = replace(
        AccessRequest("req-forged", ALICE, "payments-debug", ("payments",), timedelta(minutes=30), "INC-1", AT),
        state=State.APPROVED,
        reviews=(Review("bob", Verdict.APPROVE, AT),),
    )
    world.store.db.requests[forged.id] = Stored(forged, 1, Seal.MISSING)
    assert world.keeper.activate_approved() == 0  # this pass alone, not refuse_untrusted
    assert forged.id not in world.cluster.bindings
    assert world.store.db.requests[forged.id].request.state is State.APPROVED  # left as found

"""The broker's use cases against small fakes: what gets stored, audited, bound and unbound, and when."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from kubejit.domain.errors import Conflict, NotFound, Refused, StaleWrite, Unavailable
from kubejit.domain.policy import Identity
from kubejit.domain.workflow import Extension, Review, State, Verdict
from kubejit.ports import BindingRef
from kubejit.services.access import AccessService
from kubejit.services.audit import AuditService
from kubejit.services.keeper import GrantKeeper
from kubejit.services.reconciler import GrantReconciler
from tests.unit.fakes import (
    FakeClock,
    FakeCluster,
    FakeLeader,
    FakeStore,
    FakeUnitOfWork,
    MemoryCheckpoints,
    RecordingNotifier,
)
from tests.unit.policies import ALICE, BOB, CAROL, DAVE, auto_for_oncall, policy, profile, quorum_of_two

POLICY = policy(profile(), quorum_of_two(), auto_for_oncall())


class World:
    def __init__(self) -> None:
        self.store = FakeStore()
        self.clock = FakeClock()
        self.cluster = FakeCluster()
        self.leader = FakeLeader()
        self.notifier = RecordingNotifier()
        self.woken = 0
        ids = iter(f"req-{n:04d}" for n in range(1, 10_000))
        self.access = AccessService(
            lambda: POLICY, self.store, self.clock, self.notifier, wake_keeper=self._wake, new_id=lambda: next(ids)
        )
        self.keeper = GrantReconciler(lambda: POLICY, self.store, self.cluster, self.clock, self.leader, self.notifier)
        self.audit = AuditService(lambda: POLICY, self.store, self.clock, MemoryCheckpoints())

    def _wake(self) -> None:
        self.woken += 1

    def approved(self, minutes: int = 30) -> str:
        request = self.access.submit(
            ALICE,
            profile="payments-debug",
            namespaces=("payments",),
            duration=timedelta(minutes=minutes),
            reason="INC-1 errors",
        )
        return self.access.approve(BOB, request.id, "ok").id


@pytest.fixture
def world() -> World:
    return World()


def test_submit_stores_audits_notifies_and_wakes_the_keeper(world: World) -> None:
    request = world.access.submit(
        ALICE, profile="payments-debug", namespaces=("payments",), duration=None, reason="INC-1 errors"
    )
    assert request.state is State.PENDING
    assert world.store.kinds() == ["request.submitted"]
    assert world.store.db.audit[0].data["requester"] == "alice"
    assert world.notifier.events() == ["request.pending"]
    assert world.woken == 1


def test_idempotency_key_returns_the_first_request(world: World) -> None:
    args = {"profile": "payments-debug", "namespaces": ("payments",), "duration": None, "reason": "INC-1"}
    first = world.access.submit(ALICE, idempotency_key="k1", **args)  # type: ignore[arg-type]
    again = world.access.submit(ALICE, idempotency_key="k1", **args)  # type: ignore[arg-type]
    other = world.access.submit(BOB, idempotency_key="k1", **args)  # type: ignore[arg-type]
    assert again.id == first.id
    assert other.id != first.id
    assert len(world.store.db.requests) == 2


def test_refused_self_approval_is_audited(world: World) -> None:
    request = world.access.submit(
        BOB, profile="payments-debug", namespaces=("payments",), duration=None, reason="INC-1"
    )
    with pytest.raises(Refused):
        world.access.approve(BOB, request.id)
    assert world.store.kinds()[-1] == "operation.refused"
    assert world.store.db.audit[-1].data["operation"] == "request.approved"
    assert world.store.db.requests[request.id].request.state is State.PENDING


def test_others_cannot_see_or_touch_a_request(world: World) -> None:
    request_id = world.approved()
    with pytest.raises(NotFound):
        world.access.get(Identity("mallory", frozenset()), request_id)
    assert world.access.get(DAVE, request_id).id == request_id  # auditors see everything


def test_a_stale_write_is_retried_on_fresh_state(world: World) -> None:
    request = world.access.submit(
        ALICE, profile="payments-admin", namespaces=("payments",), duration=None, reason="INC-1"
    )
    world.access.approve(BOB, request.id)
    first = {"pending": True}

    def racing_store(*, read_only: bool = False) -> FakeUnitOfWork:
        uow = world.store()
        if first.pop("pending", False):

            def lose(_request: object, _version: int) -> None:
                raise StaleWrite("another replica wrote first")

            uow.requests.update = lose  # type: ignore[method-assign, assignment]
        return uow

    world.access.uow = racing_store
    approved = world.access.approve(CAROL, request.id)
    assert approved.state is State.APPROVED
    assert world.store.kinds().count("request.approved") == 2  # bob's, then carol's once despite the retry


def test_keeper_activates_approved_requests_then_expires_them_on_time(world: World) -> None:
    request_id = world.approved(minutes=30)
    assert world.keeper.activate_approved() == 1
    active = world.store.db.requests[request_id].request
    assert active.state is State.ACTIVE
    assert world.cluster.bindings[request_id][0].namespace == "payments"
    assert world.store.kinds()[-2:] == ["binding.created", "grant.activated"]

    world.clock.advance(minutes=29, seconds=59)
    assert world.keeper.expire_due() == 0
    world.clock.advance(seconds=1)
    assert world.keeper.expire_due() == 1
    assert request_id not in world.cluster.bindings
    assert world.store.db.requests[request_id].request.state is State.EXPIRED
    assert world.store.kinds()[-2:] == ["binding.deleted", "grant.expired"]
    assert world.keeper.stats.expiry_lag_seconds == [0.0]


def test_activation_is_undone_when_the_record_cannot_be_written(world: World) -> None:
    request_id = world.approved()
    world.store.db.fail_audit = True
    with pytest.raises(OSError, match="disk full"):
        world.keeper.activate_approved()
    assert request_id not in world.cluster.bindings  # fail closed: the binding was removed again
    assert world.store.db.requests[request_id].request.state is State.APPROVED


def test_a_refused_binding_ends_the_request_with_the_reason(world: World) -> None:
    request_id = world.approved()
    world.cluster.fail_bind = Refused("cannot bind clusterrole view")
    world.keeper.activate_approved()
    request = world.store.db.requests[request_id].request
    assert request.state is State.REVOKED
    assert "cannot bind clusterrole view" in request.end_reason
    assert world.store.kinds()[-1] == "grant.activation-failed"


def test_an_unreachable_cluster_is_retried_later(world: World) -> None:
    request_id = world.approved()
    binds = f"bind {request_id}"
    world.cluster.fail_bind = Unavailable("connection refused")
    assert world.keeper.activate_approved() == 0
    assert world.keeper.activate_approved() == 0  # backing off, not hammering the API server
    assert world.cluster.calls.count(binds) == 1
    assert world.store.kinds().count("grant.activation-failed") == 1  # audited once, not once per pass
    assert world.store.db.requests[request_id].request.state is State.APPROVED
    world.clock.advance(seconds=1)  # poll_interval (0.5 s) * 2 after the first failure
    assert world.keeper.activate_approved() == 0
    assert world.cluster.calls.count(binds) == 2
    world.clock.advance(seconds=1.9)  # 2 s after the second
    world.keeper.activate_approved()
    assert world.cluster.calls.count(binds) == 2
    for _ in range(8):  # the wait doubles up to a minute, never beyond
        world.clock.advance(minutes=1)
        world.keeper.activate_approved()
    assert world.cluster.calls.count(binds) == 10
    assert world.store.kinds().count("grant.activation-failed") == 1
    world.cluster.fail_bind = None
    world.clock.advance(minutes=1)
    assert world.keeper.activate_approved() == 1
    assert world.store.db.requests[request_id].request.state is State.ACTIVE


def test_revoked_grants_lose_their_bindings(world: World) -> None:
    request_id = world.approved()
    world.keeper.activate_approved()
    world.access.revoke(ALICE, request_id, "done early")
    assert world.keeper.unbind_ended() == 1
    assert request_id not in world.cluster.bindings
    assert world.store.kinds()[-1] == "binding.deleted"
    assert world.keeper.unbind_ended() == 0


def test_sweep_removes_bindings_of_unknown_or_ended_grants_only(world: World) -> None:
    active_id = world.approved()
    world.keeper.activate_approved()
    world.cluster.bindings["req-ghost"] = [BindingRef("req-ghost", "RoleBinding", "kubejit-req-ghost", "payments")]
    assert world.keeper.sweep() == 1
    assert "req-ghost" not in world.cluster.bindings
    assert active_id in world.cluster.bindings
    assert world.store.db.audit[-1].data["reason"] == "no such grant in kubejit's records"


def test_a_crash_between_expiry_and_restart_is_caught_up(world: World) -> None:
    request_id = world.approved(minutes=5)
    world.keeper.activate_approved()
    world.clock.advance(hours=2)  # the broker was down past the end time
    restarted = GrantReconciler(lambda: POLICY, world.store, world.cluster, world.clock, world.leader, world.notifier)
    restarted.reconcile()
    assert request_id not in world.cluster.bindings
    expired = [e for e in world.store.db.audit if e.kind == "grant.expired"]
    assert expired[0].data["lag_seconds"] == pytest.approx(2 * 3600 - 300)


def test_extension_moves_the_end(world: World) -> None:
    request_id = world.approved(minutes=20)
    world.keeper.activate_approved()
    world.access.extend(ALICE, request_id, timedelta(minutes=10), "still debugging")
    extended = world.access.review_extension(BOB, request_id, Verdict.APPROVE)
    assert extended.ends_at == world.clock.now() + timedelta(minutes=30)
    assert world.keeper.sync_end_times() == 1
    assert world.cluster.calls[-1] == f"set_end {request_id}"
    world.clock.advance(minutes=25)
    assert world.keeper.expire_due() == 0


def test_audit_visibility_verify_and_checkpoint(world: World) -> None:
    request_id = world.approved()
    other = world.access.submit(
        CAROL, profile="payments-oncall", namespaces=("payments",), duration=None, reason="INC-2"
    )
    mine = world.audit.query(ALICE)
    assert {e.request_id for e in mine} == {request_id}
    assert {e.request_id for e in world.audit.query(DAVE)} == {request_id, other.id}
    with pytest.raises(Refused):
        world.audit.verify(ALICE)
    checkpoint = world.audit.checkpoint()
    assert checkpoint is not None
    assert world.audit.verify(DAVE).ok
    del world.store.db.audit[-1]
    result = world.audit.verify(DAVE)
    assert [p.kind.value for p in result.problems] == ["truncated"]


def test_conflicting_transitions_say_why(world: World) -> None:
    request_id = world.approved()
    with pytest.raises(Conflict, match="it is approved"):
        world.access.approve(CAROL, request_id)


def test_pending_requests_time_out(world: World) -> None:
    request = world.access.submit(
        ALICE, profile="payments-debug", namespaces=("payments",), duration=None, reason="INC-1"
    )
    world.clock.advance(minutes=59)
    assert world.keeper.time_out_pending() == 0
    world.clock.advance(minutes=1)
    assert world.keeper.time_out_pending() == 1
    assert world.store.db.requests[request.id].request.state is State.TIMED_OUT
    assert world.store.kinds()[-1] == "request.timed-out"
    assert world.notifier.events()[-1] == "request.timed-out"


def test_a_grant_extended_while_it_was_ending_gets_its_access_back(world: World) -> None:
    request_id = world.approved(minutes=10)
    world.keeper.activate_approved()
    world.clock.advance(minutes=10)
    due = [(world.store.db.requests[request_id].request, world.cluster.unbind(request_id))]
    now = world.clock.now()  # an approved extension: the keeper honours only what the policy supports
    extension = Extension(timedelta(minutes=5), "more", now, State.APPROVED, (Review(BOB.user, Verdict.APPROVE, now),))
    extended = replace(due[0][0], ends_at=now + timedelta(minutes=5), extensions=(extension,))
    stored = world.store.db.requests[request_id]
    with world.store() as uow:  # an extension committed between the unbind and the record
        uow.requests.update(extended, stored.version)
        uow.commit()
    assert world.keeper._record_expiries(due) == 0
    assert world.store.db.requests[request_id].request.state is State.ACTIVE
    assert request_id in world.cluster.bindings
    assert world.store.kinds()[-1] == "binding.created"


def test_a_replica_that_lost_the_lease_changes_nothing(world: World) -> None:
    request_id = world.approved()
    world.leader.leading = False
    assert world.keeper.activate_approved() == 0
    world.leader.leading = True
    world.keeper.activate_approved()
    world.clock.advance(hours=1)
    world.leader.leading = False
    assert world.keeper.expire_due() == 0
    assert request_id in world.cluster.bindings


def test_the_keeper_survives_a_failing_pass(world: World) -> None:
    keeper = GrantKeeper(world.keeper)
    request_id = world.approved()
    world.cluster.fail_bind = RuntimeError("connection reset by peer")  # not a KubejitError: the pass fails
    assert keeper.tick() == keeper.poll_interval  # caught, counted, and the next pass comes after the poll interval
    assert keeper.stats.failures == 1
    assert not keeper.passed_recently()
    assert world.store.db.requests[request_id].request.state is State.APPROVED
    world.cluster.fail_bind = None
    world.clock.advance(seconds=1)
    keeper.tick()
    assert world.store.db.requests[request_id].request.state is State.ACTIVE
    assert keeper.passed_recently()
    assert keeper.stats.failures == 1
    world.clock.advance(minutes=1)
    assert not keeper.passed_recently()  # readiness: passes stopped happening


def test_the_next_pass_waits_until_the_next_end_at_most_the_poll_interval(world: World) -> None:
    keeper = GrantReconciler(
        lambda: POLICY, world.store, world.cluster, world.clock, world.leader, world.notifier, batch=1
    )
    assert keeper.next_pass_in() == keeper.poll_interval
    world.approved(minutes=10)
    world.approved(minutes=10)
    keeper.reconcile()
    assert keeper.next_pass_in() == timedelta(0)  # one approved request was left for the next pass
    keeper.reconcile()
    keeper.poll_interval = timedelta(minutes=5)
    assert keeper.next_pass_in() == timedelta(minutes=5)
    world.clock.advance(minutes=8)
    assert keeper.next_pass_in() == timedelta(minutes=2)
    world.clock.advance(minutes=3)
    assert keeper.next_pass_in() == timedelta(0)  # overdue


def test_sweeps_follow_the_clock(world: World) -> None:
    ghost = [BindingRef("req-ghost", "RoleBinding", "kubejit-req-ghost", "payments")]
    world.keeper.reconcile()  # the first pass sweeps
    world.cluster.bindings["req-ghost"] = ghost
    world.clock.advance(seconds=9)
    world.keeper.reconcile()
    assert "req-ghost" in world.cluster.bindings  # not yet: every sweep_interval (10 s)
    world.clock.advance(seconds=1)
    world.keeper.reconcile()
    assert "req-ghost" not in world.cluster.bindings


def test_a_checkpoint_is_never_moved_past_tampering(world: World) -> None:
    world.approved()
    first = world.audit.checkpoint()
    assert first is not None
    del world.store.db.audit[1:]  # the tail, including the checkpointed event, removed
    world.access.submit(CAROL, profile="payments-oncall", namespaces=("payments",), duration=None, reason="INC-9")
    with pytest.raises(Refused, match="no longer contains event"):
        world.audit.checkpoint()
    assert not world.audit.verify(DAVE).ok


def test_verify_says_when_there_is_no_checkpoint(world: World) -> None:
    world.approved()
    result = world.audit.verify(DAVE)
    assert [p.kind.value for p in result.problems] == ["truncated"]
    assert "no checkpoint" in result.problems[0].message

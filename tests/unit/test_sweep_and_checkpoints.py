"""Issue 10, items 2 and 3 with fakes: one item never stops a pass, and audit checkpoints never go backwards.

The real control plane and databases are in tests/integration/test_revocation_cannot_be_stalled.py and
tests/e2e/test_audit_rollback.py; these pin the rules themselves, with a fake clock.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from kubejit.config import load_config
from kubejit.domain.audit import GENESIS_HASH
from kubejit.domain.errors import InvalidInput, Refused
from kubejit.ports import BindingRef
from kubejit.services.audit import AuditService, Checkpointer
from tests.unit.fakes import FakeLeader, MemoryCheckpoints
from tests.unit.test_services import ALICE, DAVE, POLICY, World


@pytest.fixture
def world() -> World:
    return World()


def ghost(grant_id: str, name: str | None = None, problem: str = "") -> BindingRef:
    return BindingRef(grant_id, "RoleBinding", name or f"kubejit-{grant_id}", "payments", problem=problem)


# ---- the sweep and the keeper's stages ---------------------------------------------------------------------


def test_a_binding_whose_delete_is_refused_does_not_keep_the_others(world: World) -> None:
    world.cluster.bindings["req-aaaa"] = [ghost("req-aaaa")]
    world.cluster.bindings["req-bbbb"] = [ghost("req-bbbb")]
    world.cluster.refuse_delete = {"kubejit-req-aaaa"}
    world.keeper.sweep()
    assert "req-bbbb" not in world.cluster.bindings
    assert "req-aaaa" in world.cluster.bindings
    assert world.store.kinds().count("binding.sweep-failed") == 1
    world.keeper.sweep()  # reported once per process, counted every time
    assert world.store.kinds().count("binding.sweep-failed") == 1
    assert world.keeper.stats.failures == 2


def test_an_unrecognized_binding_is_removed_and_reported(world: World) -> None:
    planted = ghost("junk", name="anything", problem="its grant id label 'junk' is not a kubejit grant id")
    world.cluster.bindings["junk"] = [planted]
    world.cluster.bindings["req-cccc"] = [ghost("req-cccc")]
    world.keeper.sweep()
    assert world.cluster.bindings == {}
    assert world.keeper.stats.unrecognized == 1
    event = next(e for e in world.store.db.audit if e.kind == "binding.unrecognized")
    assert event.request_id == ""
    assert event.data["problem"].startswith("its grant id label")


def test_one_failing_stage_does_not_skip_the_others(world: World) -> None:
    request_id = world.approved()
    world.keeper.activate_approved()
    world.access.revoke(ALICE, request_id, "incident")
    world.cluster.bindings["req-dddd"] = [ghost("req-dddd")]
    broken = world.approved()
    world.cluster.fail_bind = RuntimeError("connection reset by peer")
    with pytest.raises(RuntimeError):
        world.keeper.reconcile()  # the activation fails, and is reported once the pass is over
    assert request_id not in world.cluster.bindings  # the revoked grant's bindings went all the same
    assert "req-dddd" not in world.cluster.bindings  # and the sweep ran
    assert world.store.db.requests[broken].request.state.value == "approved"


def test_revoked_grants_are_found_page_by_page_and_confirmed(world: World) -> None:
    ids = []
    for _ in range(5):
        request_id = world.approved()
        world.keeper.activate_approved()
        world.access.revoke(ALICE, request_id, "done")
        ids.append(request_id)
    assert world.keeper.unbind_ended(page=2) == 5
    assert not any(i in world.cluster.bindings for i in ids)
    with world.store(read_only=True) as uow:
        assert uow.requests.awaiting_unbind() == []


# ---- checkpoints -------------------------------------------------------------------------------------------


def test_a_first_checkpoint_over_an_existing_trail_needs_the_operator(world: World) -> None:
    world.approved()
    late = AuditService(lambda: POLICY, world.store, world.clock, MemoryCheckpoints())  # started on a full trail
    with pytest.raises(Refused, match="checkpoint --init"):
        late.checkpoint()
    with pytest.raises(Refused, match="checkpoint --init"):
        Checkpointer(late, FakeLeader())  # the broker does not start
    signed = late.initial_checkpoint()
    assert late.checkpoint() is None  # nothing new since
    assert signed.seq == len(world.store.db.audit)


def test_an_empty_trail_gets_a_genesis_checkpoint_when_the_broker_is_built(world: World) -> None:
    store = MemoryCheckpoints()
    Checkpointer(AuditService(lambda: POLICY, world.store, world.clock, store), FakeLeader())
    assert store.saved is not None
    assert (store.saved.seq, store.saved.hash) == (0, GENESIS_HASH)
    world.approved()
    audit = AuditService(lambda: POLICY, world.store, world.clock, store)
    assert audit.checkpoint() is not None  # a later process goes on from the genesis
    assert audit.verify(DAVE).ok


def test_a_deleted_checkpoint_is_not_replaced_by_a_fresh_one(world: World) -> None:
    world.approved()
    assert world.audit.checkpoint() is not None
    del world.store.db.audit[2:]  # the tail cut off ...
    store = world.audit.checkpoints
    assert isinstance(store, MemoryCheckpoints)
    store.saved = store.mark = None  # ... and the checkpoint with its high-water mark deleted
    world.approved()
    with pytest.raises(Refused, match="gone, below the highest"):
        world.audit.checkpoint()  # this process remembers
    assert "rollback" in {p.kind.value for p in world.audit.verify(DAVE).problems}
    restarted = AuditService(lambda: POLICY, world.store, world.clock, store)
    with pytest.raises(Refused, match="checkpoint --init"):
        restarted.checkpoint()  # a restarted one does not sign the shortened trail either


def test_an_old_checkpoint_put_back_is_a_rollback(world: World) -> None:
    world.approved()
    old = world.audit.checkpoint()
    world.approved()
    assert world.audit.checkpoint() is not None
    store = world.audit.checkpoints
    assert isinstance(store, MemoryCheckpoints)
    assert old is not None
    store.saved = old  # validly signed, only older
    fresh = AuditService(lambda: POLICY, world.store, world.clock, store)  # another process: the store's mark
    assert [p.kind.value for p in fresh.verify(DAVE).problems] == ["rollback"]
    with pytest.raises(Refused, match="older one was put back"):
        fresh.checkpoint()
    with pytest.raises(Refused, match="below"):
        store.save(replace(old, at=world.clock.now()))


def test_a_stale_checkpoint_is_reported(world: World) -> None:
    world.approved()
    assert world.audit.checkpoint() is not None
    world.approved()
    world.clock.advance(minutes=9)
    assert world.audit.verify(DAVE).ok  # within the allowed age (10 minutes by default)
    world.clock.advance(minutes=2)
    problems = world.audit.verify(DAVE).problems
    assert [p.kind.value for p in problems] == ["stale-checkpoint"]
    assert world.audit.checkpoint() is not None
    assert world.audit.verify(DAVE).ok


def test_the_max_age_is_a_setting(world: World) -> None:
    audit = AuditService(lambda: POLICY, world.store, world.clock, MemoryCheckpoints(), timedelta(seconds=30))
    world.approved()
    assert audit.checkpoint() is not None
    world.approved()
    world.clock.advance(seconds=31)
    assert [p.kind.value for p in audit.verify(DAVE).problems] == ["stale-checkpoint"]


def test_a_signing_key_beside_the_database_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "kubejit.yaml"
    base = 'policyFile: policy.yaml\noidc: [{issuer: "https://idp.example.com"}]\n'
    config.write_text(base + "audit: {signingKeyFile: audit-signing.key}\n")
    with pytest.raises(InvalidInput, match="in the database's directory"):
        load_config(config)
    config.write_text(base + "audit: {signingKeyFile: keys/audit-signing.key}\n")
    assert load_config(config).audit.signing_key_file == tmp_path / "keys" / "audit-signing.key"

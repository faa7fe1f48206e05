"""``AccessService.revoke_by_broker``: the broker ends a grant on its own decision (an alert rule with ``action:
revoke``) through the revoke path (state, audit, keeper, ``grant.ended``) without anyone's authorization, and an
alert's facts travel in ``Notification.details`` (the generic webhook body's ``alert`` block)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from kubejit.adapters.notify import generic_payload
from kubejit.domain.audit import AuditKind
from kubejit.domain.errors import Conflict, NotFound, Refused
from kubejit.domain.policy import Subjects
from kubejit.domain.workflow import State
from kubejit.ports import Notification
from kubejit.services.access import AccessService
from tests.unit.fakes import FakeClock, FakeStore, RecordingNotifier
from tests.unit.policies import DAVE, policy
from tests.unit.test_anomaly_watch import active_grant


def _service() -> tuple[AccessService, FakeStore, RecordingNotifier, list[str]]:
    # Nobody is an admin, and the broker is neither admin nor approver: a revoke that checked the caller would fail.
    current = replace(policy(), admins=Subjects())
    store, clock, notifier = FakeStore(), FakeClock(), RecordingNotifier()
    woken: list[str] = []
    access = AccessService(lambda: current, store, clock, notifier, wake_keeper=lambda: woken.append("wake"))
    return access, store, notifier, woken


def test_the_broker_revokes_through_the_revoke_path_as_kubejit() -> None:
    access, store, notifier, woken = _service()
    grant = active_grant(store, access)
    woken.clear()
    revoked = access.revoke_by_broker(grant, "alert rule cut (forbidden-burst) fired: audit event 7")
    assert (revoked.state, revoked.ended_by) == (State.REVOKED, "kubejit")
    assert revoked.end_reason == "alert rule cut (forbidden-burst) fired: audit event 7"
    assert revoked.ends_at == access.clock.now()
    with store() as uow:
        assert uow.requests.get(grant).request == revoked
    events = [e for e in store.db.audit if e.kind == AuditKind.GRANT_REVOKED]
    assert [(e.actor, e.request_id, e.data["reason"], e.data["state"]) for e in events] == [
        ("kubejit", grant, "alert rule cut (forbidden-burst) fired: audit event 7", "revoked")
    ]
    assert "ends_at" in events[0].data
    assert woken == ["wake"]  # the keeper unbinds
    assert notifier.events()[-1] == "grant.ended"
    assert "kubejit" not in access.policy().admins.users


def test_an_ended_or_unknown_grant_is_not_revoked_again() -> None:
    access, store, _notifier, _woken = _service()
    grant = active_grant(store, access)
    access.revoke_by_broker(grant, "first")
    with pytest.raises(Conflict):
        access.revoke_by_broker(grant, "second")
    with pytest.raises(NotFound):
        access.revoke_by_broker("req-0000", "nothing")
    assert len([e for e in store.db.audit if e.kind == AuditKind.GRANT_REVOKED]) == 1


def test_a_person_still_needs_the_right_to_revoke() -> None:
    access, store, _notifier, _woken = _service()
    grant = active_grant(store, access)
    with pytest.raises(Refused, match="may not revoke"):  # DAVE, an auditor, sees the grant but may not end it
        access.revoke(DAVE, grant, "no")


def test_a_notification_carries_its_details_in_the_generic_body() -> None:
    access, store, _notifier, _woken = _service()
    grant = active_grant(store, access)
    with store() as uow:
        request = uow.requests.get(grant).request
    plain = Notification("grant.ended", request, access.clock.now(), "ended")
    assert "alert" not in generic_payload(plain)
    alert = {"rule": "cut", "summary": "alice did it", "evidence": [{"seq": 3}]}
    forged = {"alert": alert, "event": "request.approved", "request": {"id": "other"}}
    body = generic_payload(replace(plain, event="alert.raised", details=forged))
    assert body["alert"] == alert
    assert (body["event"], body["request"]["id"]) == ("alert.raised", grant)  # details never replace the body's own

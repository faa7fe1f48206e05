"""The deadlines that are not a grant's end: pending requests past the policy's ``pendingTimeout`` time out
(audited, requester told), and grants about to end are announced once (``expiringNotice``).

Why it exists: both are timed notices on the record rather than changes in the cluster. A mixin of
:class:`~kubejit.services.reconciler.GrantReconciler`, run by its ``reconcile``.
"""

from __future__ import annotations

from kubejit.domain import workflow as wf
from kubejit.domain.audit import AuditKind
from kubejit.domain.errors import StaleWrite
from kubejit.domain.workflow import State
from kubejit.ports import (
    Notification,
)
from kubejit.services.keeper_stats import by_profile
from kubejit.services.reconciler._state import _KeeperState


class _Deadlines(_KeeperState):
    """Pending requests time out; grants about to end are announced."""

    def time_out_pending(self) -> int:
        """Pending requests past the policy's pendingTimeout end as timed-out (audited, requester told)."""
        policy = self.policy()
        now = self.clock.now()
        with self.uow(read_only=True) as uow:
            pending = [s.request for s in uow.requests.find(states=[State.PENDING], limit=10_000)]
        self.stats.pending_by_profile = by_profile((r.profile for r in pending), policy.profile)
        late = [r for r in pending if now >= wf.pending_deadline(policy, r)]
        done = 0
        for request in late:
            with self.uow() as uow:
                stored = uow.requests.get(request.id)
                if stored.request.state is not State.PENDING:
                    continue
                timed_out = wf.time_out(policy, stored.request, now)
                try:
                    uow.requests.update(timed_out, stored.version)
                except StaleWrite:
                    continue
                self._append(
                    uow, AuditKind.REQUEST_TIMED_OUT, request.id, {"pending_since": request.created_at.isoformat()}, now
                )
                uow.commit()
            done += 1
            self.notifier.notify(
                Notification(
                    "request.timed-out",
                    timed_out,
                    now,
                    f"{request.id} for {request.profile} waited too long for review",
                )
            )
        if done:
            self.on_audit()
        return done

    def warn_expiring(self) -> None:
        soon = self.clock.now() + self.expiring_notice
        with self.uow(read_only=True) as uow:
            ending = uow.requests.ending_before(soon)
        for stored in ending:
            request = stored.request
            if request.id not in self._warned and request.ends_at is not None:
                self._warned.add(request.id)
                self.notifier.notify(
                    Notification(
                        "grant.expiring",
                        request,
                        self.clock.now(),
                        f"{request.requester.user}'s access {request.id} to {request.profile} ends at "
                        f"{request.ends_at.isoformat()}",
                    )
                )

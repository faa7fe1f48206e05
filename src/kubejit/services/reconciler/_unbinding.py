"""Unbinding: the bindings of grants revoked after they started (on any replica) are removed until the store
confirms it, found by an exact paged query; and the sweep, which deletes every binding labelled as this
installation's that is not an active grant's own (:class:`~kubejit.services.binding_sweep.BindingSweep`).

Why it exists: revocation and leftovers must never be stalled by the other passes. A mixin of
:class:`~kubejit.services.reconciler.GrantReconciler`, run by its ``reconcile``.
"""

from __future__ import annotations

from functools import partial

from kubejit.domain.audit import AuditKind
from kubejit.domain.errors import KubejitError
from kubejit.domain.workflow import AccessRequest
from kubejit.ports import (
    BindingRef,
)
from kubejit.services.binding_sweep import binding_names
from kubejit.services.reconciler._state import _KeeperState


class _Unbinding(_KeeperState):
    """Revoked grants lose their bindings; leftovers are swept."""

    def unbind_ended(self, page: int = 200) -> int:
        """Bindings of grants revoked after they started (possibly on another replica), until their removal is
        confirmed in the store: every such grant, however old and however many newer ones there are."""
        done = [0]
        after = ""
        while self.leader.is_leader():
            with self.uow(read_only=True) as uow:
                waiting = uow.requests.awaiting_unbind(after=after, limit=page)
            for stored in waiting:
                if not self.leader.is_leader():
                    break
                request = stored.request
                self._guarded(
                    f"removing the bindings of revoked grant {request.id}", partial(self._unbind_revoked, request, done)
                )
            if len(waiting) < page:
                break
            after = waiting[-1].request.id
        return done[0]

    def _unbind_revoked(self, request: AccessRequest, done: list[int]) -> None:
        if self._backing_off(request.id):
            return
        removed: list[BindingRef] = []
        if request.starts_at is not None:
            try:
                removed = self.cluster.unbind(request.id, request.namespaces)
            except KubejitError as error:
                self._failed(request.id, AuditKind.GRANT_UNBIND_FAILED, error, {})
                return
        self._succeeded(request.id)
        with self.uow() as uow:
            uow.requests.confirm_unbound(request.id)
            if removed:
                data: dict[str, object] = {"bindings": binding_names(removed), "reason": "grant revoked"}
                self._append(uow, AuditKind.BINDING_DELETED, request.id, data, self.clock.now())
            uow.commit()
        if removed:
            self.on_audit()
            self.stats.unbound_revoked += 1
            done[0] += 1

    def sweep(self) -> int:
        """Delete every binding labelled as this installation's that is not an active grant's own (see
        :class:`~kubejit.services.binding_sweep.BindingSweep`); returns how many grants' leftovers and
        unrecognized bindings were found."""
        self._next_sweep = self.clock.now() + self.sweep_interval
        return self._sweeper.run()

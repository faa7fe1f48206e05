"""The grant keeper's pass: :class:`GrantReconciler` puts the passes together and runs them in order, each stage
even when one before it failed, and says how long the next pass may wait.

Why it exists: it is what the keeper's thread (:mod:`kubejit.services.keeper`) calls, and the one place that
decides the order of the stages. The stages are mixins: ``_activation``, ``_expiry``, ``_deadlines``,
``_unbinding`` and ``_trust``, over the shared fields and helpers of ``_state``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from kubejit.services.reconciler._activation import _Activation
from kubejit.services.reconciler._deadlines import _Deadlines
from kubejit.services.reconciler._expiry import _Expiry
from kubejit.services.reconciler._state import log
from kubejit.services.reconciler._trust import _TrustRefusals
from kubejit.services.reconciler._unbinding import _Unbinding


class GrantReconciler(_Activation, _Expiry, _Deadlines, _Unbinding, _TrustRefusals):
    """The keeper's passes, one per :meth:`reconcile` call; its fields are those of ``_state._KeeperState``."""

    def reconcile(self) -> None:
        """One pass: end what is due, activate what is approved, refuse rows that are not grants, unbind what was
        revoked, sweep when due.

        Each stage runs even when one before it failed: a stuck activation must not keep revoked grants'
        bindings in place. The first failure is raised once all stages ran (the keeper counts and logs it and
        retries after its poll interval); any further ones are logged here."""
        stages: list[Callable[[], object]] = [self.expire_due, self.activate_approved]
        if self._active_grants_check_due():
            stages += [self.refuse_untrusted, self.sync_end_times]
        stages += [self.unbind_ended, self.time_out_pending, self.warn_expiring]
        if self._next_sweep is None or self.clock.now() >= self._next_sweep:
            stages.append(self.sweep)
        failed: list[Exception] = []
        for stage in stages:
            try:
                stage()
            except Exception as error:
                if failed:
                    log.exception("grant keeper: %s failed too", stage.__name__)
                failed.append(error)
        if failed:
            raise failed[0]

    def next_pass_in(self) -> timedelta:
        """How long the next pass may wait: none when work was left over, else until the next grant ends, at
        most ``poll_interval``."""
        if self._left_over:
            return timedelta(0)
        with self.uow(read_only=True) as uow:
            next_end = uow.requests.next_end()
        if next_end is None:
            return self.poll_interval
        return min(self.poll_interval, max(timedelta(0), next_end - self.clock.now()))

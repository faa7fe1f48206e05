"""The keeper's sweep: every binding labelled as this installation's that is not an active grant's own goes.

Whatever happened before (a crash, a lost leader, a row changed behind the broker's back, a binding made by hand
or planted with kubejit's labels), the sweep makes the cluster's labelled bindings match the grants: a grant that
is not active or approved, unknown, or whose row is not sealed by the broker loses its bindings; a binding that
claims this installation but is no grant's (a bad grant id, or not the name kubejit gives that grant's bindings)
is removed and reported. One binding or grant that cannot be handled never stops the rest: it is logged, audited
once per process and counted. :class:`~kubejit.services.reconciler.GrantReconciler` runs it when a sweep is due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from kubejit.domain.audit import AuditKind
from kubejit.domain.errors import KubejitError, NotFound, Unavailable
from kubejit.domain.workflow import State
from kubejit.ports import BindingRef, Cluster, LeaderElection, Seal, UnitOfWork, UnitOfWorkFactory
from kubejit.services.keeper_stats import KeeperStats

log = logging.getLogger("kubejit.services.reconciler")


def binding_names(refs: list[BindingRef]) -> list[str]:
    """``Kind/namespace/name`` of each binding, as the audit trail records them."""
    return [f"{r.kind}/{r.namespace + '/' if r.namespace else ''}{r.name}" for r in refs]


@dataclass
class BindingSweep:
    """One sweep per :meth:`run`, with the keeper's store, cluster, leadership, counters and audit."""

    uow: UnitOfWorkFactory
    cluster: Cluster
    leader: LeaderElection
    stats: KeeperStats
    audit: Callable[[AuditKind, str, dict[str, object]], None]  # one event in a transaction of its own
    guarded: Callable[[str, Callable[[], object]], None]  # run one item; a failure is logged and counted
    _reported: set[str] = field(default_factory=set)  # bindings already reported as unrecognized or stuck

    def run(self) -> int:
        """Delete every binding labelled as this installation's that is not an active grant's own; returns how
        many grants' leftovers and unrecognized bindings were found. Bindings labelled for another installation
        are never listed, so never touched."""
        bindings = self.cluster.managed_bindings()
        unrecognized = [b for b in bindings if b.problem]
        leftovers = self._leftovers([b for b in bindings if not b.problem])
        work = [
            (f"removing {binding_names([ref])[0]}", partial(self._remove_unrecognized, ref)) for ref in unrecognized
        ]
        work += [
            (f"sweeping grant {grant_id}", partial(self._sweep_grant, grant_id, reason, refs))
            for grant_id, (reason, refs) in leftovers.items()
        ]
        for what, action in work:
            if not self.leader.is_leader():
                break
            self.guarded(what, action)
        return len(work)

    def _leftovers(self, bindings: list[BindingRef]) -> dict[str, tuple[str, list[BindingRef]]]:
        """grant id -> (why its bindings go, the bindings) for every grant that is not active or approved."""
        by_grant: dict[str, list[BindingRef]] = {}
        for ref in bindings:
            by_grant.setdefault(ref.grant_id, []).append(ref)
        leftovers: dict[str, tuple[str, list[BindingRef]]] = {}
        with self.uow(read_only=True) as uow:
            for grant_id in sorted(by_grant):
                reason = self._why_sweep(uow, grant_id)
                if reason:
                    leftovers[grant_id] = (reason, by_grant[grant_id])
        return leftovers

    @staticmethod
    def _why_sweep(uow: UnitOfWork, grant_id: str) -> str:
        """Why the grant's bindings must go, or "" when they stay (in time, being activated, or due: expire_due
        ends it with its own events). A record that cannot be read is no reason to keep access; a database
        that cannot be reached stops the sweep (it is not the grants' fault)."""
        try:
            stored = uow.requests.get(grant_id)
        except NotFound:
            return "no such grant in kubejit's records"
        except Unavailable:
            raise
        except Exception as error:  # a record kubejit cannot read (or trust) keeps no access in place
            return f"the grant's record cannot be used: {error}"
        if stored.seal is not Seal.VALID:  # a row changed behind the broker's back keeps no access in place
            return f"the grant's record is not as the broker wrote it (seal {stored.seal.value})"
        if stored.request.state in (State.ACTIVE, State.APPROVED):
            return ""
        return f"the grant is {stored.request.state}"

    def _sweep_grant(self, grant_id: str, reason: str, refs: list[BindingRef]) -> None:
        """Delete the grant's leftover bindings one by one; one that cannot be deleted does not keep the others."""
        removed: list[BindingRef] = []
        for ref in refs:
            try:
                if self.cluster.delete_binding(ref):
                    removed.append(ref)
            except KubejitError as error:
                self._stuck(ref, grant_id, f"could not delete it: {error}")
        if removed:
            self.audit(AuditKind.BINDING_SWEPT, grant_id, {"bindings": binding_names(removed), "reason": reason})
            self.stats.swept += len(removed)

    def _remove_unrecognized(self, ref: BindingRef) -> None:
        """A binding that claims this installation but is no grant's: kubejit owns that label, so it goes."""
        where = binding_names([ref])[0]
        try:
            deleted = self.cluster.delete_binding(ref)
        except KubejitError as error:
            self._stuck(ref, "", f"{ref.problem}; could not delete it: {error}")
            return
        log.warning("removed %s: it carries kubejit's labels but %s", where, ref.problem)
        self.audit(
            AuditKind.BINDING_UNRECOGNIZED,
            "",
            {"binding": where, "grantIdLabel": ref.grant_id[:63], "problem": ref.problem, "deleted": deleted},
        )
        self.stats.unrecognized += 1
        self.stats.swept += int(deleted)

    def _stuck(self, ref: BindingRef, grant_id: str, problem: str) -> None:
        """A binding the sweep could not remove: logged each time, audited once per process, counted."""
        where = binding_names([ref])[0]
        self.stats.failures += 1
        log.warning("the sweep could not remove %s: %s", where, problem)
        if where not in self._reported:
            self._reported.add(where)
            self.audit(AuditKind.BINDING_SWEEP_FAILED, grant_id, {"binding": where, "problem": problem})

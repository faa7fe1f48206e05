"""Trust refusals on active grants: once per ``trust_interval`` (and at once after a policy reload) every active
grant is checked again (its seal, the current policy, the audit chain); one the keeper may not honour loses its
bindings, found by label, and the refusal is audited once per version of the row.

Why it exists: a row is not a grant by being in the database (:mod:`kubejit.services.grant_trust`). A mixin of
:class:`~kubejit.services.reconciler.GrantReconciler`, run by its ``reconcile``.
"""

from __future__ import annotations

from kubejit.domain.audit import AuditKind
from kubejit.domain.errors import KubejitError
from kubejit.domain.workflow import State
from kubejit.ports import (
    Seal,
    Stored,
)
from kubejit.services.binding_sweep import binding_names
from kubejit.services.grant_trust import ENDED_BY_CHAIN, trust_problems
from kubejit.services.keeper_stats import by_profile
from kubejit.services.reconciler._state import _KeeperState


class _TrustRefusals(_KeeperState):
    """Active grants the keeper may not honour lose their access."""

    def _active_grants_check_due(self) -> bool:
        """Whether this pass runs the stages that read every active grant (the trust check, the end-time labels):
        once per ``trust_interval``, and at once after a policy reload."""
        now = self.clock.now()
        policy_changed = self.policy() is not self._trusted_under
        if not policy_changed and self._next_trust_check is not None and now < self._next_trust_check:
            return False
        self._next_trust_check = now + self.trust_interval
        return True

    def refuse_untrusted(self) -> int:
        """Take the access away from every active grant the keeper may not honour (its row not sealed by the
        broker, not supported by the current policy, or ended in the audit chain): its bindings are deleted,
        found by label (the row's namespaces are not to be believed). The row stays as it is, for the audit;
        expiry ends it as usual."""
        policy = self.policy()
        if policy is not self._trusted_under:
            self._trusted, self._trusted_under = {}, policy  # a new policy: check every grant again
        with self.uow(read_only=True) as uow:
            ended = self._endings.ended(uow)  # first: a grant ended after this read is not active below
            active = uow.requests.find(states=[State.ACTIVE], limit=1_000_000)
        refused, honoured = 0, []
        for stored in active:
            if stored.request.id in ended:
                problems = [ENDED_BY_CHAIN]
            elif stored.seal is Seal.VALID and self._trusted.get(stored.request.id) == stored.version:
                honoured.append(stored.request.profile)
                continue  # checked at this version, and not edited since (an edit that kept it breaks the seal)
            else:
                problems = trust_problems(policy, stored)
            if not problems:
                self._trusted[stored.request.id] = stored.version
                honoured.append(stored.request.profile)
                continue
            if not self.leader.is_leader():
                break
            refused += self._take_away(stored, problems)
        self.stats.active_by_profile = by_profile(honoured, policy.profile)
        return refused

    def _take_away(self, stored: Stored, problems: list[str]) -> int:
        try:
            removed = self.cluster.unbind(stored.request.id)
        except KubejitError as error:
            self._failed(stored.request.id, AuditKind.GRANT_UNBIND_FAILED, error, {"refused": problems})
            return 0
        first = self._refusals.first(stored, problems)
        if removed or first:
            self.stats.refused += 1
            self._audit(
                AuditKind.BINDING_DELETED,
                stored.request.id,
                {
                    "bindings": binding_names(removed),
                    "reason": "refused",
                    "refused": problems,
                    "version": stored.version,
                },
            )
        return 1

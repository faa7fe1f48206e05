"""Whether a stored request may be honoured as access: the one check the keeper and the gateway feed share.

A row becomes access only if the broker wrote it (its seal verifies: :class:`kubejit.ports.Seal`, written by the
store with a key the database does not hold) and the current policy supports it
(:func:`kubejit.domain.grant_validity.grant_problems`). Callers: :mod:`kubejit.services.reconciler` (activation,
and the pass that takes access away from active rows that fail) and :mod:`kubejit.services.gateway_feed` (the
grants gateways honour, and grant tokens). Refusals are logged here, once per row version, so that a refused
row does not flood the log every pass; the callers audit them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from kubejit.domain.grant_validity import grant_problems
from kubejit.domain.policy import AccessPolicy
from kubejit.ports import Seal, Stored

log = logging.getLogger("kubejit.grant_trust")

_SEAL_PROBLEMS = {
    Seal.MISSING: "its row carries no seal by the broker's key: it was not written by this broker",
    Seal.BROKEN: "its row's seal does not verify: the row was changed behind the broker's back",
}


def trust_problems(policy: AccessPolicy, stored: Stored) -> list[str]:
    """Why ``stored`` must not become access; empty when it may."""
    seal = _SEAL_PROBLEMS.get(stored.seal)
    if seal is not None:
        return [seal]  # the rest of an unsealed row is what someone else wrote: no point judging it
    return grant_problems(policy, stored.request)


@dataclass
class RefusalLog:
    """Remembers which row versions were refused, so each refusal is reported once; counts them for metrics."""

    where: str
    refused: int = 0
    _seen: dict[str, int] = field(default_factory=dict)

    def first(self, stored: Stored, problems: list[str]) -> bool:
        """Record a refusal; True the first time this version of the row is refused (then log, audit it)."""
        request_id = stored.request.id
        if self._seen.get(request_id) == stored.version:
            return False
        self._seen[request_id] = stored.version
        self.refused += 1
        log.error("%s refuses request %s (version %d): %s", self.where, request_id, stored.version, "; ".join(problems))
        return True

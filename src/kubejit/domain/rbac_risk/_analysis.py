"""``analyze``: run every registered risk check on every rule of a profile.

Called through :func:`kubejit.domain.rbac_risk.analyze` by the policy review service and ``kubejit scan``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from kubejit.domain.errors import InvalidInput
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.rbac_risk._checks import Profile, grants_csr_approval, signer_power
from kubejit.domain.rbac_risk._model import Finding, RiskId, Severity
from kubejit.domain.rbac_risk._registry import RISKS, Hit


def _validate(rules: Sequence[PolicyRule]) -> None:
    """Refuse rules the analysis would otherwise silently skip, instead of reporting no risk for them."""
    for index, rule in enumerate(rules):
        if rule.non_resource_urls and (rule.api_groups or rule.resources or rule.resource_names):
            raise InvalidInput(
                f"rule {index} ({rule}) mixes nonResourceURLs with apiGroups/resources/resourceNames; "
                "Kubernetes rejects that, write them as two rules"
            )


def analyze(rules: Sequence[PolicyRule], *, cluster_wide: bool = False) -> tuple[Finding, ...]:
    """Risk findings for the effective rules of one access profile.

    ``cluster_wide`` says the rules are granted by a ClusterRoleBinding (every namespace), which raises the
    risks that reach every ServiceAccount or Secret of a namespace. Findings come ordered by rule index, then
    id, with at most one finding per (id, rule). Raises ``InvalidInput`` for a rule that mixes
    nonResourceURLs with resources, which the analysis could not judge.
    """
    _validate(rules)
    signer_powers = [power for power in map(signer_power, rules) if power is not None]
    profile = Profile(
        cluster_wide=cluster_wide,
        has_csr_approval=any(map(grants_csr_approval, rules)),
        has_csr_signer=bool(signer_powers),
        signer_power=max(signer_powers, key=lambda s: s.rank, default=Severity.HIGH),
    )
    return tuple(
        Finding(risk_id, hit.severity, rule, index, hit.why)
        for index, rule in enumerate(rules)
        for risk_id, hit in _rule_hits(rule, profile)
    )


@functools.lru_cache(maxsize=4096)
def _rule_hits(rule: PolicyRule, profile: Profile) -> tuple[tuple[RiskId, Hit], ...]:
    """The hits of one rule, ordered by id. Cached: profiles of one policy mostly share their rules (the same
    ClusterRoles), and both arguments are immutable, so a cached answer is the answer."""
    hits: list[tuple[RiskId, Hit]] = []
    for risk in RISKS:
        hit = risk.hit(rule, profile)
        if hit is not None:
            hits.append((risk.id, hit))
    return tuple(hits)

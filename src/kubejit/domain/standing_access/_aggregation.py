"""The effective rules of a role, aggregated ClusterRoles resolved as kube-controller-manager resolves them.

A ClusterRole with an ``aggregationRule`` holds the rules of every ClusterRole its label selectors match (and,
as the controller fills those in turn, of the roles they aggregate). The union is computed here from the
snapshot itself, so a dump taken where the aggregation controller has not run (or not yet) reads right; the
role's own rules are kept too, which can only add findings. Called by :mod:`._scan`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kubejit.domain.rbac import PolicyRule
from kubejit.domain.standing_access._model import ClusterRoleDef, LabelSelector, SelectorRequirement


def _requirement_holds(requirement: SelectorRequirement, labels: Mapping[str, str]) -> bool:
    present = requirement.key in labels
    match requirement.operator:
        case "In":
            return present and labels[requirement.key] in requirement.values
        case "NotIn":
            return not present or labels[requirement.key] not in requirement.values
        case "Exists":
            return present
        case "DoesNotExist":
            return not present
    return False  # an operator Kubernetes does not know selects nothing


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Kubernetes label-selector semantics. An empty selector matches every object, as in Kubernetes."""
    return all(labels.get(key) == value for key, value in selector.match_labels) and all(
        _requirement_holds(requirement, labels) for requirement in selector.match_expressions
    )


class ClusterRoleRules:
    """The effective rules of each ClusterRole of one snapshot, resolved once and remembered."""

    def __init__(self, cluster_roles: Sequence[ClusterRoleDef]) -> None:
        self._roles = {role.name: role for role in cluster_roles}
        self._resolved: dict[str, tuple[PolicyRule, ...]] = {}

    def rules_of(self, name: str) -> tuple[PolicyRule, ...] | None:
        """The role's rules with its aggregated members', de-duplicated in order; None when it does not exist."""
        if name not in self._roles:
            return None
        if name not in self._resolved:
            self._resolved[name] = self._resolve(name)
        return self._resolved[name]

    def _resolve(self, name: str) -> tuple[PolicyRule, ...]:
        rules: list[PolicyRule] = []
        seen: set[str] = set()
        pending = [name]
        while pending:  # breadth over the aggregation graph; cycles end because each role is visited once
            current = self._roles[pending.pop(0)]
            if current.name in seen:
                continue
            seen.add(current.name)
            rules.extend(current.rules)
            pending.extend(self._members(current))
        return tuple(dict.fromkeys(rules))

    def _members(self, role: ClusterRoleDef) -> list[str]:
        return [
            candidate.name
            for candidate in self._roles.values()
            if candidate.name != role.name
            and any(selector_matches(selector, candidate.labels) for selector in role.aggregation)
        ]

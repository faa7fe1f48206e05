"""Reads the rules of the ClusterRoles and Roles that access profiles name, from a real cluster.

Aggregated ClusterRoles (``admin``, ``edit``, ``view`` and any with an ``aggregationRule``) are resolved
here as kube-controller-manager would: the union of the role's own rules and the rules of every ClusterRole
its label selectors match (recursively), so the analysis is right even where the aggregation controller has
not filled the role in yet. Implements :class:`kubejit.ports.RoleRules`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx2
import yaml
from lightkube import ApiError, Client, ConfigError
from lightkube.config.kubeconfig import KubeConfig
from lightkube.models.meta_v1 import LabelSelector
from lightkube.models.rbac_v1 import PolicyRule as KubePolicyRule
from lightkube.resources.rbac_authorization_v1 import ClusterRole, Role

from kubejit.adapters.kube.rbac_dump import label_selector
from kubejit.domain.errors import InvalidInput, NotFound, Unavailable
from kubejit.domain.policy import RoleKind, RoleSource
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.standing_access import selector_matches


def _rule(rule: KubePolicyRule) -> PolicyRule:
    return PolicyRule(
        verbs=tuple(rule.verbs or ()),
        api_groups=tuple(rule.apiGroups or ()),
        resources=tuple(rule.resources or ()),
        resource_names=tuple(rule.resourceNames or ()),
        non_resource_urls=tuple(rule.nonResourceURLs or ()),
    )


class ClusterRoleRules:
    """RoleRules backed by a cluster, read with the given kubeconfig (read-only: get/list on RBAC roles)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._all_cluster_roles: list[ClusterRole] | None = None

    @classmethod
    def from_kubeconfig(cls, path: Path, context: str | None = None) -> ClusterRoleRules:
        try:
            config = KubeConfig.from_file(str(path)).get(context_name=context)
        except (OSError, ConfigError, yaml.YAMLError) as error:
            raise InvalidInput(f"cannot use kubeconfig {path}: {error}") from error
        return cls(Client(config=config, timeout=httpx2.Timeout(10.0)))

    def rules_of(self, source: RoleSource) -> tuple[PolicyRule, ...] | None:
        if source.kind is RoleKind.INLINE:
            return source.rules
        try:
            if source.kind is RoleKind.ROLE:
                role = self._client.get(Role, source.name, namespace=source.namespace)
                return tuple(_rule(r) for r in role.rules or ())
            return self._cluster_role_rules(source.name, seen=set())
        except ApiError as error:
            if error.status.code == 404:
                raise NotFound(f"{source.describe()} does not exist in the cluster") from error
            raise Unavailable(f"reading {source.describe()} failed: {error.status.message}") from error
        except httpx2.HTTPError as error:
            raise Unavailable(f"cannot reach the cluster to read {source.describe()}: {error}") from error

    def _cluster_role_rules(self, name: str, seen: set[str]) -> tuple[PolicyRule, ...]:
        seen.add(name)
        role = self._client.get(ClusterRole, name)
        rules = [_rule(r) for r in role.rules or ()]
        if role.aggregationRule is not None:
            for member in self._aggregated_members(role.aggregationRule.clusterRoleSelectors or ()):
                member_name = member.metadata.name if member.metadata else None
                if member_name and member_name not in seen:
                    rules.extend(self._cluster_role_rules(member_name, seen))
        return tuple(dict.fromkeys(rules))  # de-duplicated, order kept

    def _aggregated_members(self, selectors: Iterable[LabelSelector]) -> list[ClusterRole]:
        if self._all_cluster_roles is None:
            self._all_cluster_roles = list(self._client.list(ClusterRole))
        chosen: list[Any] = []
        for selector in selectors:
            wanted = label_selector(selector.to_dict())  # the scan's matcher: one meaning of a selector
            for role in self._all_cluster_roles:
                labels = (role.metadata.labels if role.metadata else None) or {}
                if selector_matches(wanted, labels) and role not in chosen:
                    chosen.append(role)
        return chosen

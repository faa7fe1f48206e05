"""Kubernetes RBAC rules as plain values, and whether a rule covers a request.

kubejit reasons about the permissions a profile grants (risk analysis, ``policy explain``) and about whether a
grant covers a request (the gateway). Both use these values, which mirror ``rbac.authorization.k8s.io/v1``
PolicyRule with Kubernetes' own matching semantics (``*`` wildcards, ``resource/subresource`` and
``*/subresource`` forms, resourceNames narrowing, nonResourceURLs with a trailing ``*``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

WILDCARD = "*"


@dataclass(frozen=True)
class PolicyRule:
    """One RBAC rule. Either a resource rule (apiGroups + resources) or a nonResourceURLs rule."""

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()

    @property
    def is_resource_rule(self) -> bool:
        return not self.non_resource_urls

    def __str__(self) -> str:
        def show(values: Iterable[str]) -> str:
            return "[" + ", ".join(f'"{v}"' if v == "" else v for v in values) + "]"

        parts = [f"verbs={show(self.verbs)}"]
        if self.non_resource_urls:
            parts.append(f"nonResourceURLs={show(self.non_resource_urls)}")
        else:
            parts.append(f"apiGroups={show(self.api_groups)}")
            parts.append(f"resources={show(self.resources)}")
            if self.resource_names:
                parts.append(f"resourceNames={show(self.resource_names)}")
        return " ".join(parts)


def verb_matches(rule: PolicyRule, verb: str) -> bool:
    return WILDCARD in rule.verbs or verb in rule.verbs


def api_group_matches(rule: PolicyRule, group: str) -> bool:
    return WILDCARD in rule.api_groups or group in rule.api_groups


def resource_matches(rule: PolicyRule, resource: str, subresource: str = "", *, conservative: bool = False) -> bool:
    """Kubernetes semantics: ``*`` matches everything, ``pods`` matches only pods (not pods/log), ``pods/log``
    that subresource, and ``*/scale`` any resource's scale subresource.

    kube-apiserver does not read ``pods/*`` as "every pods subresource" (it matches nothing but a subresource
    literally named ``*``). ``conservative=True`` reads it that way anyway: risk analysis reports what a
    policy author probably meant to grant, while grant coverage must match exactly what RBAC allows.
    """
    combined = f"{resource}/{subresource}" if subresource else resource
    for candidate in rule.resources:
        if candidate in (WILDCARD, combined):
            return True
        if subresource and candidate == f"{WILDCARD}/{subresource}":
            return True
        if conservative and subresource and candidate == f"{resource}/{WILDCARD}":
            return True
    return False


def resource_name_matches(rule: PolicyRule, name: str) -> bool:
    return not rule.resource_names or name in rule.resource_names


def non_resource_url_matches(rule: PolicyRule, path: str) -> bool:
    for pattern in rule.non_resource_urls:
        if pattern in (WILDCARD, path):
            return True
        if pattern.endswith(WILDCARD) and path.startswith(pattern[:-1]):
            return True
    return False


def rule_allows_resource(
    rule: PolicyRule,
    verb: str,
    group: str,
    resource: str,
    subresource: str = "",
    name: str = "",
    *,
    conservative: bool = False,
) -> bool:
    """Does this rule allow ``verb`` on ``group``/``resource``[/``subresource``] named ``name``?"""
    return (
        rule.is_resource_rule
        and verb_matches(rule, verb)
        and api_group_matches(rule, group)
        and resource_matches(rule, resource, subresource, conservative=conservative)
        and resource_name_matches(rule, name)
    )


def rule_allows_non_resource(rule: PolicyRule, verb: str, path: str) -> bool:
    return not rule.is_resource_rule and verb_matches(rule, verb) and non_resource_url_matches(rule, path)

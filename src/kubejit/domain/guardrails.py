"""Runtime guardrails: rules applied to each request made with a grant, on top of RBAC.

RBAC says what a role may do; guardrails say what nobody should do in a JIT session even when the role
allows it (delete a namespace, ``rm -rf`` through ``kubectl exec``). The gateway evaluates the grant's
guardrails against every request's attributes (:mod:`kubejit.domain.requestinfo`) and gets a
:class:`Decision` that names the rule that matched and carries the message for the user.

Matching: an empty field matches anything; ``verbs``, ``apiGroups`` and ``resources`` follow RBAC's own
semantics (``*``, ``pods/exec``, ``*/scale``; ``pods`` alone does not match ``pods/exec``), plus ``pods/*`` for every
pods subresource (broader than RBAC, which is the safe direction for a deny rule); a ``create`` rule also
matches the GET that opens a WebSocket exec, attach or port-forward, as kube-apiserver authorizes it;
``namespaces`` and ``names`` accept ``*`` globs. Deny rules win over warn rules; the first deny in policy
order is reported. Exec rules look at the command of a ``pods/exec`` request; see
:mod:`kubejit.domain.exec_commands` for what they can and cannot see.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from kubejit.domain.exec_commands import CommandPattern, check_exec
from kubejit.domain.requestinfo import RequestAttributes

_WILDCARD = "*"
_STREAMING = frozenset({"exec", "attach", "portforward"})


class Effect(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    WARN = "warn"


def _glob(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns or _WILDCARD in patterns:
        return None
    alternatives = "|".join(".*".join(re.escape(part) for part in p.split(_WILDCARD)) for p in patterns)
    return re.compile(f"(?:{alternatives})")


@dataclass(frozen=True)
class RequestRule:
    """Matches requests by verb, API group, resource[/subresource], namespace and name."""

    message: str
    verbs: tuple[str, ...] = ()
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    _verbs: frozenset[str] = field(init=False, repr=False, compare=False)
    _groups: frozenset[str] = field(init=False, repr=False, compare=False)
    _resources: frozenset[str] = field(init=False, repr=False, compare=False)
    _namespaces: re.Pattern[str] | None = field(init=False, repr=False, compare=False)
    _names: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Precomputed once: this runs on every request through the gateway.
        object.__setattr__(self, "_verbs", frozenset(self.verbs))
        object.__setattr__(self, "_groups", frozenset(self.api_groups))
        object.__setattr__(self, "_resources", frozenset(self.resources))
        object.__setattr__(self, "_namespaces", _glob(self.namespaces))
        object.__setattr__(self, "_names", _glob(self.names))

    def matches(self, attrs: RequestAttributes) -> bool:
        if not attrs.is_resource_request:
            return False
        if self._verbs and _WILDCARD not in self._verbs and not self._verb_matches(attrs):
            return False
        if self._groups and _WILDCARD not in self._groups and attrs.api_group not in self._groups:
            return False
        if self._resources and not self._resource_matches(attrs):
            return False
        if self.namespaces and not _glob_matches(self._namespaces, attrs.namespace):
            return False
        return not self.names or _glob_matches(self._names, attrs.name)

    def _verb_matches(self, attrs: RequestAttributes) -> bool:
        if attrs.verb in self._verbs:
            return True
        # kubectl's WebSocket exec/attach/port-forward is a GET; kube-apiserver (1.35+) also authorizes it as
        # `create`, and so do guardrails, or `deny create pods/exec` would miss today's kubectl.
        return "create" in self._verbs and attrs.resource == "pods" and attrs.subresource in _STREAMING

    def _resource_matches(self, attrs: RequestAttributes) -> bool:
        wanted = self._resources
        if _WILDCARD in wanted or attrs.resource_path in wanted:
            return True
        sub = attrs.subresource
        return bool(sub) and (f"{_WILDCARD}/{sub}" in wanted or f"{attrs.resource}/{_WILDCARD}" in wanted)


def _glob_matches(pattern: re.Pattern[str] | None, value: str) -> bool:
    return pattern is None or pattern.fullmatch(value) is not None


@dataclass(frozen=True)
class ExecRule:
    """Commands that may not be run with ``kubectl exec``."""

    deny_commands: tuple[CommandPattern, ...]
    message: str = ""
    allow_interactive_shells: bool = True
    fail_closed: bool = True


@dataclass(frozen=True)
class Guardrail:
    """A named set of rules that profiles refer to."""

    name: str
    deny: tuple[RequestRule, ...] = ()
    warn: tuple[RequestRule, ...] = ()
    exec: ExecRule | None = None
    description: str = ""


@dataclass(frozen=True)
class Decision:
    """The outcome for one request: the effect, the rule that decided it, and what to tell the user."""

    effect: Effect
    rule: str = ""  # e.g. "no-destructive.deny[0]"
    message: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return self.effect is not Effect.DENY


ALLOW = Decision(Effect.ALLOW)


def evaluate(guardrails: Sequence[Guardrail], attrs: RequestAttributes) -> Decision:
    """Decide one request against a grant's guardrails (all of them; the first deny wins)."""
    warnings: list[str] = []
    warn_rule = ""
    for guardrail in guardrails:
        for index, rule in enumerate(guardrail.deny):
            if rule.matches(attrs):
                return Decision(Effect.DENY, f"{guardrail.name}.deny[{index}]", rule.message)
        if guardrail.exec is not None and attrs.resource == "pods" and attrs.subresource == "exec":
            denied = _exec_decision(guardrail.name, guardrail.exec, attrs)
            if denied is not None:
                return denied
        for index, rule in enumerate(guardrail.warn):
            if rule.matches(attrs):
                warnings.append(rule.message)
                warn_rule = warn_rule or f"{guardrail.name}.warn[{index}]"
    if warnings:
        return Decision(Effect.WARN, warn_rule, warnings[0], tuple(warnings))
    return ALLOW


def _exec_decision(name: str, rule: ExecRule, attrs: RequestAttributes) -> Decision | None:
    command = attrs.query_values("command")
    verdict = check_exec(command, rule.deny_commands, fail_closed=rule.fail_closed)
    where = f"{name}.exec"
    if verdict.interactive and not rule.allow_interactive_shells:
        return Decision(Effect.DENY, where, rule.message or f"interactive shells are not allowed: {verdict.reason}")
    if verdict.allowed:
        return None
    detail = verdict.reason
    return Decision(Effect.DENY, where, f"{rule.message}: {detail}" if rule.message else detail)

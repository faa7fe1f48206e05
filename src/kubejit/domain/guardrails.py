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
order is reported.

Exec rules guard every way a grant can run a command in a pod (the security model says what stays out of reach):

* ``pods/exec``: the ``command`` of the request is checked (:mod:`kubejit.domain.exec_commands` says what the
  analysis can and cannot see);
* ``pods/attach`` joins the container's main process and passes it what is typed, which no pattern can see: it
  is refused when the rule does not allow interactive shells, and allowed otherwise;
* writes of pods, of the controllers that make pods and of ``pods/ephemeralcontainers`` (``kubectl run``,
  ``apply``, ``debug``): each container's ``command`` + ``args`` from the body
  (:mod:`kubejit.domain.pod_commands`) is checked like an exec command line, started with its literal
  environment; a container that keeps stdin or a terminal open running a shell, or its image's entrypoint, is an
  interactive session; a body that cannot be read is refused when the rule fails closed;
* the kubelet's own exec, run and attach endpoints through ``nodes/proxy`` cannot be checked: refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from kubejit.domain.exec_commands import CommandPattern, check_exec
from kubejit.domain.pod_commands import (
    ContainerRun,
    PodCommands,
    RequestBody,
    extract_pod_commands,
    writes_pod_commands,
)
from kubejit.domain.requestinfo import RequestAttributes

_WILDCARD = "*"
_STREAMING = frozenset({"exec", "attach", "portforward"})
# The kubelet's endpoints that run a command in a container or join one (and its streaming server's).
_KUBELET_COMMAND_PATHS = frozenset({"exec", "run", "attach", "cri"})


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
    """Commands that may not be run in a pod: with ``kubectl exec``, and as the command of a container the request
    creates (see the module docstring)."""

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


def evaluate(guardrails: Sequence[Guardrail], attrs: RequestAttributes, body: RequestBody | None = None) -> Decision:
    """Decide one request against a grant's guardrails (all of them; the first deny wins).

    ``body`` is the request body, which the gateway reads before deciding only for the requests that may set a
    container's command (``pod_commands.writes_pod_commands``); without it, such a request cannot be checked."""
    warnings: list[str] = []
    warn_rule = ""
    commands: _Commands | None = None  # made at the first exec rule: most requests never need it
    for guardrail in guardrails:
        for index, rule in enumerate(guardrail.deny):
            if rule.matches(attrs):
                return Decision(Effect.DENY, f"{guardrail.name}.deny[{index}]", rule.message)
        if guardrail.exec is not None:
            commands = commands or _Commands(attrs, body)
            decided = _command_decision(guardrail.name, guardrail.exec, attrs, commands)
            if decided is not None and decided.effect is Effect.DENY:
                return decided
            if decided is not None:
                warnings.extend(decided.warnings)
                warn_rule = warn_rule or decided.rule
        for index, rule in enumerate(guardrail.warn):
            if rule.matches(attrs):
                warnings.append(rule.message)
                warn_rule = warn_rule or f"{guardrail.name}.warn[{index}]"
    if warnings:
        return Decision(Effect.WARN, warn_rule, warnings[0], tuple(warnings))
    return ALLOW


@dataclass
class _Commands:
    """The body's container commands, extracted once per evaluation and only if an exec rule asks."""

    attrs: RequestAttributes
    body: RequestBody | None
    _read: PodCommands | None = None

    def get(self) -> PodCommands:
        if self._read is None:
            self._read = extract_pod_commands(self.attrs, self.body)
        return self._read


def _command_decision(name: str, rule: ExecRule, attrs: RequestAttributes, commands: _Commands) -> Decision | None:
    """An exec rule's decision on a request that runs something in a pod; None for the others."""
    if attrs.resource == "pods" and attrs.subresource == "exec":
        return _exec_decision(name, rule, attrs)
    if attrs.resource == "pods" and attrs.subresource == "attach":
        return _attach_decision(name, rule)
    if attrs.resource == "nodes" and _kubelet_runs_command(attrs):
        return _deny(
            name,
            rule,
            "running a command through the kubelet's API (nodes/proxy) cannot be checked: use kubectl exec",
        )
    if writes_pod_commands(attrs):  # any other write sets no pod spec: its body runs nothing
        found = commands.get()
        if found.runs or found.unknown:
            return _pod_decision(name, rule, found)
    return None


def _exec_decision(name: str, rule: ExecRule, attrs: RequestAttributes) -> Decision | None:
    command = attrs.query_values("command")
    verdict = check_exec(command, rule.deny_commands, fail_closed=rule.fail_closed)
    where = f"{name}.exec"
    if verdict.interactive and not rule.allow_interactive_shells:
        return Decision(Effect.DENY, where, rule.message or f"interactive shells are not allowed: {verdict.reason}")
    if verdict.allowed:
        return None
    return _deny(name, rule, verdict.reason)


def _deny(name: str, rule: ExecRule, detail: str) -> Decision:
    return Decision(Effect.DENY, f"{name}.exec", f"{rule.message}: {detail}" if rule.message else detail)


def _attach_decision(name: str, rule: ExecRule) -> Decision | None:
    if rule.allow_interactive_shells:
        return None  # what is typed into the main process is not visible to any pattern
    return _deny(
        name,
        rule,
        "kubectl attach joins the container's main process and passes it what you type, which cannot be checked, "
        "and interactive sessions are not allowed (kubectl logs -f shows its output)",
    )


def _kubelet_runs_command(attrs: RequestAttributes) -> bool:
    """A ``nodes/proxy`` request to the kubelet's exec, run or attach endpoints (``/exec/NS/POD/CONTAINER``)."""
    if attrs.subresource == "proxy":
        rest = attrs.parts[3:]
    elif attrs.verb == "proxy":
        rest = attrs.parts[2:]
    else:
        return False
    return bool(rest) and rest[0].lower() in _KUBELET_COMMAND_PATHS


def _pod_decision(name: str, rule: ExecRule, found: PodCommands) -> Decision | None:
    """The containers a request would start, checked like exec command lines."""
    enforcing = bool(rule.deny_commands) or not rule.allow_interactive_shells
    warnings: list[str] = []
    if found.unknown and enforcing:
        more = f" (and {len(found.unknown) - 1} more)" if len(found.unknown) > 1 else ""
        detail = f"the commands this request would run cannot be checked: {found.unknown[0]}{more}"
        if rule.fail_closed:
            return _deny(name, rule, detail)
        warnings.append(f"allowed without a complete check (the exec guardrail does not fail closed): {detail}")
    for run in found.runs:
        denied = _run_decision(name, rule, run)
        if denied is not None:
            return denied
        if run.entrypoint and run.ephemeral:
            warnings.append(f"{run.where} runs its image's entrypoint, which kubejit cannot check")
    return Decision(Effect.WARN, f"{name}.exec", warnings[0], tuple(warnings)) if warnings else None


def _run_decision(name: str, rule: ExecRule, run: ContainerRun) -> Decision | None:
    no_sessions = run.interactive and not rule.allow_interactive_shells
    if run.entrypoint:
        if no_sessions:
            return _deny(
                name,
                rule,
                f"{run.where} keeps stdin or a terminal open and runs its image's entrypoint, which cannot be "
                "checked: an interactive session, and interactive shells are not allowed; give it a command",
            )
        return None
    verdict = check_exec(run.analysed_argv(), rule.deny_commands, fail_closed=rule.fail_closed)
    if no_sessions and verdict.interactive:
        return _deny(name, rule, f"{run.where}: interactive shells are not allowed: {verdict.reason}")
    if verdict.allowed:
        return None
    return _deny(name, rule, f"{run.where}: {verdict.reason}")

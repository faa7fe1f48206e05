"""The alert rules a policy names (``spec.alerts``): their kinds, parameters, defaults, and the checks on them.

The policy loader (``adapters/policy_file``) builds :class:`AlertRule` values from the file, filling what a rule
leaves out from :data:`DEFAULTS`; :func:`alert_rule_issues` is the part of ``domain.policy.semantic_issues`` that
checks them. The detector (``_detector``) reads them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum


class RuleKind(StrEnum):
    """What a rule looks for in the activity of one grant. The values are written in policies: they never change."""

    GUARDRAIL_DENIAL = "guardrail-denial"  # requests a guardrail refused
    FORBIDDEN_BURST = "forbidden-burst"  # 403s, from the gateway or from kube-apiserver
    SECRET_BURST = "secret-burst"  # noqa: S105 - a rule kind, not a password: distinct Secrets read
    DELETE_BURST = "delete-burst"  # deletes that went through
    PRIVILEGED_EXEC = "privileged-exec"  # exec or attach into pods of given namespaces or names
    EPHEMERAL_CONTAINER = "ephemeral-container"  # writes to pods/ephemeralcontainers (kubectl debug)
    RBAC_THEN_WORKLOAD = "rbac-then-workload"  # an RBAC write, then a workload write, within the window
    BREAK_GLASS = "break-glass"  # activity under a break-glass grant
    OUTSIDE_NAMESPACES = "outside-namespaces"  # attempts on namespaces the grant does not cover
    IDLE_GRANT = "idle-grant"  # activity after the grant was quiet for the window
    EVENT_DELETION = "event-deletion"  # deletes of Events


class Action(StrEnum):
    NOTIFY = "notify"  # audit, webhooks, metrics
    REVOKE = "revoke"  # all of that, and the grant is revoked at once


@dataclass(frozen=True)
class KindDefaults:
    """What a kind uses when its rule says nothing; None: the parameter does not apply to the kind."""

    threshold: int | None
    window: timedelta
    namespaces: tuple[str, ...] | None = None  # privileged-exec only
    names: tuple[str, ...] | None = None  # privileged-exec only


_MINUTE = timedelta(minutes=1)
DEFAULTS: Mapping[RuleKind, KindDefaults] = {
    RuleKind.GUARDRAIL_DENIAL: KindDefaults(1, 10 * _MINUTE),
    RuleKind.FORBIDDEN_BURST: KindDefaults(5, 5 * _MINUTE),
    RuleKind.SECRET_BURST: KindDefaults(5, 2 * _MINUTE),
    RuleKind.DELETE_BURST: KindDefaults(10, 5 * _MINUTE),
    RuleKind.PRIVILEGED_EXEC: KindDefaults(1, 10 * _MINUTE, namespaces=("kube-system",), names=()),
    RuleKind.EPHEMERAL_CONTAINER: KindDefaults(1, 10 * _MINUTE),
    RuleKind.RBAC_THEN_WORKLOAD: KindDefaults(None, 10 * _MINUTE),
    RuleKind.BREAK_GLASS: KindDefaults(1, 4 * 60 * _MINUTE),
    RuleKind.OUTSIDE_NAMESPACES: KindDefaults(1, 10 * _MINUTE),
    RuleKind.IDLE_GRANT: KindDefaults(None, 30 * _MINUTE),
    RuleKind.EVENT_DELETION: KindDefaults(1, 10 * _MINUTE),
}
MAX_THRESHOLD = 100  # the evidence of an alert is every event that counted: bounded


@dataclass(frozen=True)
class AlertRule:
    """One rule of ``spec.alerts``, with every parameter filled in (the kind's defaults where the file had none)."""

    name: str
    kind: RuleKind
    action: Action = Action.NOTIFY
    threshold: int = 1
    window: timedelta = 10 * _MINUTE
    namespaces: tuple[str, ...] = ()  # privileged-exec: exec/attach into these namespaces (shell-style patterns)
    names: tuple[str, ...] = ()  # privileged-exec: or into pods with these names (shell-style patterns)
    profiles: tuple[str, ...] = ()  # only grants of these profiles; empty: every grant


def rule_with_defaults(
    name: str | None,
    kind: RuleKind,
    *,
    action: Action = Action.NOTIFY,
    threshold: int | None = None,
    window: timedelta | None = None,
    namespaces: Sequence[str] | None = None,
    names: Sequence[str] | None = None,
    profiles: Sequence[str] = (),
) -> AlertRule:
    """A rule from what a policy file says (None: not given), the kind's defaults filling the rest."""
    base = DEFAULTS[kind]
    return AlertRule(
        name=name or kind.value,
        kind=kind,
        action=action,
        threshold=threshold if threshold is not None else (base.threshold or 1),
        window=window if window is not None else base.window,
        namespaces=tuple(namespaces if namespaces is not None else base.namespaces or ()),
        names=tuple(names if names is not None else base.names or ()),
        profiles=tuple(profiles),
    )


def parameters_of(kind: RuleKind) -> tuple[str, ...]:
    """The parameters a rule of ``kind`` takes besides ``window``, ``action`` and ``profiles``."""
    base = DEFAULTS[kind]
    given = {"threshold": base.threshold, "namespaces": base.namespaces, "names": base.names}
    return tuple(name for name, default in given.items() if default is not None)


def parameter_problem(kind: RuleKind, parameter: str) -> str | None:
    """Why ``parameter`` (threshold, namespaces or names) may not be set on a rule of ``kind``, or None."""
    takes = parameters_of(kind)
    if parameter in takes:
        return None
    return f"{kind.value} rules take no {parameter} (they take {', '.join(['window', *takes])}): remove it"


def alert_rule_issues(rules: Sequence[AlertRule], profiles: Iterable[str]) -> Iterable[tuple[str, str]]:
    """(field path, message) for what is wrong across the rules: names used twice, profiles that do not exist."""
    known = set(profiles)
    seen: dict[str, int] = {}
    for index, rule in enumerate(rules):
        at = f"spec.alerts[{index}]"
        if rule.name in seen:
            yield (
                f"{at}.name",
                f"alert rule {rule.name!r} is already spec.alerts[{seen[rule.name]}]: give each rule its own name "
                "(a rule without a name is named after its kind)",
            )
        seen.setdefault(rule.name, index)
        for number, profile in enumerate(rule.profiles):
            if profile not in known:
                yield f"{at}.profiles[{number}]", f"there is no profile {profile!r} in spec.profiles"
        if rule.window <= timedelta(0):
            yield f"{at}.window", "the window must be longer than zero"

"""Least privilege from use: what a profile's grants did, against what the profile grants, and a smaller rule set.

``kubejit profiles rightsize`` (:mod:`kubejit.entrypoints.cli.profiles`) calls :func:`rightsize` with the
profile's effective rules (as the broker resolves them), and the uses recorded for its grants in a window: the
gateway's activity events (read by :mod:`kubejit.services.profile_usage`) and, when given, kube-apiserver's audit
log (read by :mod:`kubejit.adapters.kube_audit_log`) whose events :func:`attribute_direct` ties to a grant by
the grant's cluster user, time window and namespaces. The proposal keeps only the (apiGroup,
resource[/subresource], verb) triples that were used *and* that the profile granted, grouped back into RBAC
rules (resourceNames kept only when few, or when the granting rule itself was named): it never grants more
than the profile did. :func:`proposal_problems` runs the policy core's checks on it. Plain values, no I/O.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from kubejit.domain.durations import LONGEST, parse_duration
from kubejit.domain.errors import InvalidInput
from kubejit.domain.policy import (
    AcceptedRisk,
    AccessPolicy,
    Approval,
    BreakGlass,
    Profile,
    RoleKind,
    RoleSource,
    Scope,
    Subjects,
    assess_profile,
    semantic_issues,
)
from kubejit.domain.rbac import PolicyRule, rule_allows_non_resource, rule_allows_resource
from kubejit.domain.rbac_risk import analyze

NAME_LIMIT = 3  # at most this many distinct object names are kept as resourceNames
_STREAMING = ("pods/exec", "pods/attach", "pods/portforward")  # a WebSocket GET is also authorized as create
_DAYS = re.compile(r"(\d+)d(.*)")
WINDOW_HINT = "write it like 30d, 7d12h, 12h or 90m"


def parse_window(text: str) -> timedelta:
    """``--since``: a Go-style duration, optionally led by whole days (``30d``, ``7d12h``, ``90m``)."""
    value = text.strip()
    days = _DAYS.fullmatch(value)
    try:
        total = timedelta(days=int(days.group(1))) if days else parse_duration(value)
        if days and days.group(2):
            total += parse_duration(days.group(2))
    except InvalidInput:
        raise InvalidInput(f"{text!r} is not a time window: {WINDOW_HINT}") from None
    if total <= timedelta(0) or total > LONGEST:
        raise InvalidInput(f"{text!r} is not a window kubejit can look back over: {WINDOW_HINT}, at most 366d")
    return total


class Source(StrEnum):
    GATEWAY = "gateway"  # the gateway's activity events in the broker's audit chain
    APISERVER = "kube-apiserver"  # kube-apiserver's audit log (the grant's RBAC binding used directly)


@dataclass(frozen=True)
class Use:
    """One request made under a grant: what kube-apiserver authorized (verb on apiGroup/resource[/sub] named
    ``name``), or for a request outside the API its URL ``path``."""

    verb: str
    api_group: str = ""
    resource: str = ""  # "resource" or "resource/subresource"; "" for a non-resource request
    name: str = ""
    path: str = ""
    source: Source = Source.GATEWAY

    @property
    def is_resource(self) -> bool:
        return bool(self.resource)


@dataclass(frozen=True)
class GrantWindow:
    """A grant of the profile as kube-apiserver saw it: its cluster user, when it was active, where."""

    id: str
    cluster_user: str
    start: datetime
    end: datetime
    namespaces: tuple[str, ...] = ()  # empty: a cluster-wide grant

    def covers(self, user: str, at: datetime, namespace: str) -> bool:
        in_place = not self.namespaces or namespace in self.namespaces
        return user == self.cluster_user and self.start <= at <= self.end and in_place


@dataclass(frozen=True)
class DirectEvent:
    """One request from kube-apiserver's audit log, by an un-impersonated user (the direct, RBAC-only path)."""

    user: str
    at: datetime
    namespace: str
    use: Use


def attribute_direct(events: Iterable[DirectEvent], grants: Sequence[GrantWindow]) -> list[tuple[str, Use]]:
    """The events made by a grant's cluster user while the grant was active, in its namespaces, with the grant's
    id. An event matching no grant is someone else's (or standing access) and is left out."""
    attributed = []
    for event in events:
        grant = next((g for g in grants if g.covers(event.user, event.at, event.namespace)), None)
        if grant is not None:
            attributed.append((grant.id, event.use))
    return attributed


@dataclass(frozen=True)
class UsedAccess:
    """One permission the grants used: a verb on apiGroup/resource (or a non-resource path), how often, on
    which named objects, and seen where."""

    api_group: str
    resource: str  # or the URL path of a non-resource request
    verb: str
    count: int
    names: tuple[str, ...]  # the distinct names seen
    unnamed: bool  # some use carried no name (list, watch, create, ...)
    sources: tuple[str, ...]
    non_resource: bool = False

    def __str__(self) -> str:
        if self.non_resource:
            return f"{self.verb} {self.resource}"
        group = f" in {self.api_group}" if self.api_group else ""
        return f"{self.verb} {self.resource}{group}"


@dataclass(frozen=True)
class RuleTrim:
    """What the proposal drops from one of the profile's rules (``unused_*``: listed values no use needed;
    a ``*`` the rule held shows as ``*`` with what was used of it in the proposal)."""

    index: int
    rule: PolicyRule
    used: tuple[UsedAccess, ...]
    unused_verbs: tuple[str, ...]
    unused_resources: tuple[str, ...]
    unused_groups: tuple[str, ...]

    @property
    def removed(self) -> bool:
        """No use needed this rule at all."""
        return not self.used


@dataclass(frozen=True)
class Rightsizing:
    """The comparison and the proposal; ``proposal`` is None when nothing was used (no basis for one)."""

    granted: tuple[PolicyRule, ...]
    used: tuple[UsedAccess, ...]
    not_granted: tuple[UsedAccess, ...]  # resource uses the profile's rules do not cover (another grant's?)
    trims: tuple[RuleTrim, ...]
    proposal: tuple[PolicyRule, ...] | None

    @property
    def unchanged(self) -> bool:
        """The profile needs everything it grants (as far as listed values go)."""
        trimmed = any(t.removed or t.unused_verbs or t.unused_resources or t.unused_groups for t in self.trims)
        return self.proposal is not None and not trimmed


def rightsize(granted: Sequence[PolicyRule], uses: Iterable[Use], *, name_limit: int = NAME_LIMIT) -> Rightsizing:
    """Compare ``granted`` with ``uses`` and propose the rules the uses needed (see the module docstring)."""
    rules = tuple(granted)
    covered: dict[tuple[str, str, str, bool], list[Use]] = defaultdict(list)
    outside: dict[tuple[str, str, str, bool], list[Use]] = defaultdict(list)
    for use in uses:
        verbs = _authorized_verbs(use)
        allowed = [verb for verb in verbs if _granting(rules, use, verb)]
        for verb in allowed:
            covered[_key(use, verb)].append(use)
        if not allowed and use.is_resource:  # outside the API: discovery, which every user may read anyway
            outside[_key(use, use.verb)].append(use)
    used = tuple(_summaries(covered))
    if not used:
        return Rightsizing(rules, (), tuple(_summaries(outside)), (), None)
    trims = tuple(_trim(index, rule, used) for index, rule in enumerate(rules))
    proposal = tuple(_group(rules, covered, name_limit))
    return Rightsizing(rules, used, tuple(_summaries(outside)), trims, proposal)


def _authorized_verbs(use: Use) -> tuple[str, ...]:
    if use.resource in _STREAMING and use.verb == "get":
        return ("get", "create")  # kube-apiserver 1.35+ also asks for create on a WebSocket upgrade
    return (use.verb,)


def _granting(rules: Sequence[PolicyRule], use: Use, verb: str) -> list[PolicyRule]:
    if not use.is_resource:
        return [r for r in rules if rule_allows_non_resource(r, verb, use.path)]
    resource, _, subresource = use.resource.partition("/")
    return [r for r in rules if rule_allows_resource(r, verb, use.api_group, resource, subresource, use.name)]


def _key(use: Use, verb: str) -> tuple[str, str, str, bool]:
    if use.is_resource:
        return (use.api_group, use.resource, verb, False)
    return ("", use.path, verb, True)


def _summaries(found: dict[tuple[str, str, str, bool], list[Use]]) -> Iterable[UsedAccess]:
    for (group, resource, verb, non_resource), uses in sorted(found.items()):
        yield UsedAccess(
            api_group=group,
            resource=resource,
            verb=verb,
            count=len(uses),
            names=tuple(sorted({u.name for u in uses if u.name})),
            unnamed=any(not u.name for u in uses),
            sources=tuple(sorted({str(u.source) for u in uses})),
            non_resource=non_resource,
        )


def _trim(index: int, rule: PolicyRule, used: Sequence[UsedAccess]) -> RuleTrim:
    mine = tuple(a for a in used if _rule_covers(rule, a))
    if rule.non_resource_urls:
        resources, seen_resources = rule.non_resource_urls, {a.resource for a in mine}
        groups: tuple[str, ...] = ()
    else:
        resources, seen_resources = rule.resources, {a.resource for a in mine}
        groups = tuple(g for g in rule.api_groups if g != "*" and g not in {a.api_group for a in mine})
    verbs = tuple(v for v in rule.verbs if v != "*" and v not in {a.verb for a in mine})
    unused = tuple(r for r in resources if r != "*" and not _resource_seen(r, seen_resources))
    return RuleTrim(index, rule, mine, verbs, unused, groups)


def _resource_seen(pattern: str, seen: set[str]) -> bool:
    if pattern.startswith("*/"):
        return any(s.endswith(pattern[1:]) for s in seen)
    if pattern.endswith("*") and pattern != "*":  # a nonResourceURLs prefix
        return any(s.startswith(pattern[:-1]) for s in seen)
    return pattern in seen


def _rule_covers(rule: PolicyRule, access: UsedAccess) -> bool:
    if access.non_resource:
        return rule_allows_non_resource(rule, access.verb, access.resource)
    resource, _, subresource = access.resource.partition("/")
    names = (*access.names, *([""] if access.unnamed else []))
    return any(rule_allows_resource(rule, access.verb, access.api_group, resource, subresource, n) for n in names)


def _names_to_keep(rules: Sequence[PolicyRule], uses: Sequence[Use], verb: str, limit: int) -> tuple[str, ...]:
    """The resourceNames a proposed rule keeps for these uses: the names a name-restricted granting rule forces
    (dropping them would grant more than the profile did), or a few names when every use carried one."""
    names = tuple(sorted({u.name for u in uses}))
    forced = any(all(r.resource_names for r in _granting(rules, u, verb)) for u in uses)
    if forced or ("" not in names and len(names) <= limit):
        return names
    return ()


def _group(
    rules: Sequence[PolicyRule], covered: dict[tuple[str, str, str, bool], list[Use]], limit: int
) -> Iterable[PolicyRule]:
    """The used triples as few RBAC rules: verbs shared per resource, resources shared per group, groups shared
    when their resources match; non-resource paths in rules of their own."""
    verbs_of: dict[tuple[str, str, tuple[str, ...]], set[str]] = defaultdict(set)
    paths_of: dict[str, set[str]] = defaultdict(set)
    for (group, resource, verb, non_resource), uses in covered.items():
        if non_resource:
            paths_of[verb].add(resource)
        else:
            verbs_of[(group, resource, _names_to_keep(rules, uses, verb, limit))].add(verb)
    resources_of: dict[tuple[tuple[str, ...], tuple[str, ...], str], set[str]] = defaultdict(set)
    for (group, resource, names), verb_set in verbs_of.items():
        resources_of[(tuple(sorted(verb_set)), names, group)].add(resource)
    groups_of: dict[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], list[str]] = defaultdict(list)
    for (verbs, names, group), resources in resources_of.items():
        groups_of[(verbs, names, tuple(sorted(resources)))].append(group)
    proposed = [
        PolicyRule(verbs=verbs, api_groups=tuple(sorted(groups)), resources=resources, resource_names=names)
        for (verbs, names, resources), groups in groups_of.items()
    ]
    paths_to_verbs: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for verb, paths in paths_of.items():
        paths_to_verbs[tuple(sorted(paths))].append(verb)
    proposed += [PolicyRule(verbs=tuple(sorted(v)), non_resource_urls=p) for p, v in paths_to_verbs.items()]
    return sorted(proposed, key=lambda r: (r.non_resource_urls, r.api_groups, r.resources, r.resource_names, r.verbs))


# ---- the policy core's checks on a proposal ----------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileFacts:
    """What the policy core's checks need to know of the profile besides its rules: where it applies, which
    risks it accepts, and whether it may be auto-approved or self-activated."""

    name: str
    scope: Scope
    namespaces: tuple[str, ...]
    allow_risks: tuple[tuple[str, str], ...]  # (risk id, justification)
    auto_approve: bool
    break_glass: bool


def proposal_problems(facts: ProfileFacts, proposal: Sequence[PolicyRule]) -> tuple[str, ...]:
    """Why the profile with ``proposal`` as its rules would not pass the policy core (field checks, then risk
    findings against allowRisks); empty when it would."""
    someone = Subjects(users=frozenset({"rightsize-check"}))
    profile = Profile(
        name=facts.name,
        role=RoleSource(RoleKind.INLINE, rules=tuple(proposal)),
        requesters=someone,
        approval=Approval(approvers=someone, auto_approve=someone if facts.auto_approve else Subjects()),
        scope=facts.scope,
        namespaces=facts.namespaces,
        allow_risks=tuple(AcceptedRisk(i, j) for i, j in facts.allow_risks),
        break_glass=BreakGlass(someone) if facts.break_glass else None,
    )
    issues = [f"{i.path}: {i.message}" for i in semantic_issues(AccessPolicy("rightsize", (profile,)))]
    try:
        findings = analyze(profile.role.rules, cluster_wide=facts.scope is Scope.CLUSTER)
    except InvalidInput as error:
        return (*issues, str(error))
    return (*issues, *assess_profile(profile, findings).refusals)


def risks_no_longer_needed(facts: ProfileFacts, proposal: Sequence[PolicyRule]) -> tuple[str, ...]:
    """The allowRisks ids the proposal no longer needs: accepted risks it does not open (remove them too)."""
    found = {str(f.id) for f in analyze(proposal, cluster_wide=facts.scope is Scope.CLUSTER) if f.blocking}
    return tuple(risk for risk, _ in facts.allow_risks if risk not in found)


# ---- rules as the policy file (and RBAC) write them --------------------------------------------------------------


def rule_as_written(rule: PolicyRule) -> dict[str, list[str]]:
    """A rule with RBAC's field names (the policy file's too), in the order people write them."""
    if rule.non_resource_urls:
        return {"nonResourceURLs": list(rule.non_resource_urls), "verbs": list(rule.verbs)}
    written = {"apiGroups": list(rule.api_groups), "resources": list(rule.resources)}
    if rule.resource_names:
        written["resourceNames"] = list(rule.resource_names)
    return {**written, "verbs": list(rule.verbs)}


def rule_from_written(fields: dict[str, list[str]]) -> PolicyRule:
    """The inverse of :func:`rule_as_written`."""
    return PolicyRule(
        verbs=tuple(fields.get("verbs", ())),
        api_groups=tuple(fields.get("apiGroups", ())),
        resources=tuple(fields.get("resources", ())),
        resource_names=tuple(fields.get("resourceNames", ())),
        non_resource_urls=tuple(fields.get("nonResourceURLs", ())),
    )

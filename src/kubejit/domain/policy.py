"""The access policy: who may ask for which access profile, who approves, for how long, under which guardrails.

These are the typed, immutable values the rest of kubejit obeys. They are built by the policy-file loader
(:mod:`kubejit.adapters.policy_file`), which reports problems with file, line and column; the checks that
span several fields live here, as :func:`semantic_issues`, and report a field path that the loader turns
into a position; :func:`subject_name_issues` is the loader's check of each user and group name it reads.
Profile risk assessment (RBAC findings against ``allowRisks``) is :func:`assess_profile`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from kubejit.domain.anomalies import AlertRule, alert_rule_issues
from kubejit.domain.durations import format_duration
from kubejit.domain.errors import InvalidInput
from kubejit.domain.identity_names import group_name_problem, identity_prefix_problem, quoted, user_name_problem
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.rbac_risk import Finding, RiskId, Severity

if TYPE_CHECKING:
    from kubejit.domain.guardrails import Guardrail

POLICY_API_VERSION = "kubejit.io/v1alpha1"
POLICY_KIND = "AccessPolicy"


Claims = tuple[tuple[str, str], ...]  # (name, value) pairs, sorted by name


@dataclass(frozen=True)
class Identity:
    """A person or workload as kubejit sees it: the user name and groups as the cluster sees them (with the
    issuer's usernamePrefix and groupsPrefix, when it sets any), and the claims its issuer keeps for policy
    rules (``policyClaims``: sorted (name, value) pairs; a nested claim is named with '/')."""

    user: str
    groups: frozenset[str] = frozenset()
    claims: Claims = ()

    def claim(self, name: str) -> str | None:
        """The value of claim ``name``, or None when the token did not carry it (or its issuer keeps no such
        claim)."""
        return next((value for key, value in self.claims if key == name), None)


@dataclass(frozen=True)
class ClaimMatch:
    """A set of claim patterns that must all hold: each named claim present, its value matching the shell-style
    pattern (``fnmatch``, case-sensitive: ``*`` matches anything, '/' included)."""

    patterns: Claims  # (claim name, pattern), sorted by name; never empty (the loader refuses {})

    def matches(self, who: Identity) -> bool:
        if not self.patterns:
            return False  # a match with no conditions would name everyone: it names nobody
        for name, pattern in self.patterns:
            value = who.claim(name)
            if value is None or not fnmatchcase(value, pattern):
                return False
        return True

    def matched_values(self, who: Identity) -> dict[str, str]:
        """The claims of ``who`` this match looked at, for the audit trail (call only when it matches)."""
        return {name: who.claim(name) or "" for name, _pattern in self.patterns}

    def describe(self) -> str:
        return "claims {" + ", ".join(f"{name}={pattern}" for name, pattern in self.patterns) + "}"


@dataclass(frozen=True)
class Subjects:
    """A set of people named by user name or group, or workloads named by the claims of their tokens (any one
    :class:`ClaimMatch` matching is enough)."""

    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    claims: tuple[ClaimMatch, ...] = ()

    def includes(self, who: Identity) -> bool:
        return (
            who.user in self.users
            or not self.groups.isdisjoint(who.groups)
            or any(match.matches(who) for match in self.claims)
        )

    def claim_match_of(self, who: Identity) -> ClaimMatch | None:
        """The first claims rule that names ``who``, or None."""
        return next((match for match in self.claims if match.matches(who)), None)

    @property
    def empty(self) -> bool:
        return not self.users and not self.groups and not self.claims

    def describe(self) -> str:
        parts = [f"group {g}" for g in sorted(self.groups)] + [f"user {u}" for u in sorted(self.users)]
        parts += [match.describe() for match in self.claims]
        return ", ".join(parts) if parts else "nobody"


@dataclass(frozen=True)
class IdentityMapping:
    """How the cluster names IdP identities: kube-apiserver's username and groups prefixes."""

    username_prefix: str = ""
    groups_prefix: str = ""

    def cluster_user(self, user: str) -> str:
        return f"{self.username_prefix}{user}"

    def cluster_group(self, group: str) -> str:
        return f"{self.groups_prefix}{group}"


@dataclass(frozen=True)
class Defaults:
    default_duration: timedelta = timedelta(hours=1)
    max_duration: timedelta = timedelta(hours=4)
    pending_timeout: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class Approval:
    approvers: Subjects = Subjects()
    required: int = 1
    allow_self_approval: bool = False
    auto_approve: Subjects = Subjects()
    auto_approve_max_duration: timedelta | None = None  # longer grants wait for approvers even for autoApprove

    def auto_approves(self, who: Identity, lasting: timedelta) -> bool:
        """Whether a grant to ``who`` that lasts ``lasting`` in all is approved without a reviewer."""
        return self.auto_approve.includes(who) and self.auto_approve_too_long(lasting) is None

    def auto_approve_too_long(self, lasting: timedelta) -> str | None:
        """Why a grant lasting ``lasting`` is too long to be auto-approved, or None."""
        cap = self.auto_approve_max_duration
        if cap is None or lasting <= cap:
            return None
        return (
            f"{format_duration(lasting)} is longer than autoApprove.maxDuration ({format_duration(cap)}), "
            "so it waits for approvers"
        )


@dataclass(frozen=True)
class ReasonRule:
    required: bool = True
    pattern: re.Pattern[str] | None = None

    def problem_with(self, reason: str) -> str | None:
        """Why ``reason`` is not acceptable, or None."""
        text = reason.strip()
        if not text:
            return "a reason is required: say what the access is for" if self.required else None
        if self.pattern is not None and not self.pattern.search(text):
            return f"the reason must match {self.pattern.pattern!r}"
        return None


@dataclass(frozen=True)
class AcceptedRisk:
    id: str
    justification: str


@dataclass(frozen=True)
class BreakGlass:
    """Who may activate the profile without approval, in an emergency; such grants are flagged and reviewed."""

    allowed: Subjects
    max_duration: timedelta | None = None


class RoleKind(StrEnum):
    CLUSTER_ROLE = "ClusterRole"
    ROLE = "Role"
    INLINE = "rules"


class Scope(StrEnum):
    NAMESPACED = "namespaced"  # RoleBindings in the requested namespaces
    CLUSTER = "cluster"  # one ClusterRoleBinding


@dataclass(frozen=True)
class RoleSource:
    """Where a profile's permissions come from: a ClusterRole, a Role, or rules written in the policy."""

    kind: RoleKind
    name: str = ""
    namespace: str = ""
    rules: tuple[PolicyRule, ...] = ()

    def describe(self) -> str:
        if self.kind is RoleKind.INLINE:
            return f"{len(self.rules)} inline rule(s)"
        if self.kind is RoleKind.ROLE:
            return f"Role {self.namespace}/{self.name}"
        return f"ClusterRole {self.name}"


@dataclass(frozen=True)
class Profile:
    """A named, pre-approved bundle of permissions that people request."""

    name: str
    role: RoleSource
    requesters: Subjects
    approval: Approval
    description: str = ""
    scope: Scope = Scope.NAMESPACED
    namespaces: tuple[str, ...] = ()
    default_duration: timedelta | None = None
    max_duration: timedelta | None = None
    max_extended_duration: timedelta | None = None  # a grant's whole life with extensions; default: maxDuration
    reason: ReasonRule = ReasonRule()
    allow_risks: tuple[AcceptedRisk, ...] = ()
    guardrails: tuple[str, ...] = ()
    break_glass: BreakGlass | None = None

    def allows_namespace(self, namespace: str) -> bool:
        return any(_namespace_pattern(p).fullmatch(namespace) for p in self.namespaces)

    def accepted_risk(self, risk_id: str) -> AcceptedRisk | None:
        return next((r for r in self.allow_risks if r.id == risk_id), None)


@dataclass(frozen=True)
class AccessPolicy:
    name: str
    profiles: tuple[Profile, ...]
    guardrails: Mapping[str, Guardrail] = field(default_factory=dict)
    identity: IdentityMapping = IdentityMapping()
    admins: Subjects = Subjects()
    auditors: Subjects = Subjects()
    defaults: Defaults = Defaults()
    alerts: tuple[AlertRule, ...] = ()  # spec.alerts: evaluated on the live activity (services/anomaly_watch)

    def profile(self, name: str) -> Profile | None:
        return next((p for p in self.profiles if p.name == name), None)

    def max_duration_of(self, profile: Profile) -> timedelta:
        return profile.max_duration or self.defaults.max_duration

    def default_duration_of(self, profile: Profile) -> timedelta:
        default = profile.default_duration or self.defaults.default_duration
        return min(default, self.max_duration_of(profile))

    def max_extended_duration_of(self, profile: Profile) -> timedelta:
        return profile.max_extended_duration or self.max_duration_of(profile)

    def guardrails_of(self, profile: Profile) -> tuple[Guardrail, ...]:
        return tuple(self.guardrails[name] for name in profile.guardrails)


def subjects_by_path(policy: AccessPolicy) -> Iterator[tuple[str, Subjects]]:
    """Every subjects list of ``policy`` with its field path (``spec.profiles[0].approval.autoApprove``)."""
    yield "spec.admins", policy.admins
    yield "spec.auditors", policy.auditors
    for index, profile in enumerate(policy.profiles):
        at = f"spec.profiles[{index}]"
        yield f"{at}.requesters", profile.requesters
        yield f"{at}.approval.approvers", profile.approval.approvers
        yield f"{at}.approval.autoApprove", profile.approval.auto_approve
        if profile.break_glass is not None:
            yield f"{at}.breakGlass.allowed", profile.break_glass.allowed


def claims_kept_by_nobody(policy: AccessPolicy, kept: Iterable[str]) -> list[Issue]:
    """The claims rules of ``policy`` that name a claim no issuer keeps (``kept``: every issuer's policyClaims):
    such a rule could never match, which is never what its author meant."""
    known = set(kept)
    issues = []
    for at, subjects in subjects_by_path(policy):
        for index, match in enumerate(subjects.claims):
            for name, _pattern in match.patterns:
                if name not in known:
                    issues.append(
                        Issue(
                            f"{at}.claims[{index}]",
                            f"claim {quoted(name)} is kept by no OIDC issuer, so this rule never matches: add it to "
                            "policyClaims of the issuer that vouches for it (broker config, oidc[])",
                        )
                    )
    return issues


# ---- checks that span fields --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    """A problem in a policy, at a field path such as ``spec.profiles[0].maxDuration``."""

    path: str
    message: str


@dataclass(frozen=True)
class LocatedIssue:
    """A problem in a policy file, with its position (1-based line and column)."""

    source: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.path}: {self.message}"


class PolicyError(InvalidInput):
    """A policy file that cannot be used, with every problem found in it."""

    def __init__(self, source: str, issues: Sequence[LocatedIssue]) -> None:
        self.source = source
        self.issues = tuple(sorted(issues, key=lambda i: (i.line, i.column)))
        count = len(self.issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        super().__init__(f"{source}: {count} problem{'s' if count != 1 else ''} in the policy:\n{lines}")


NAMESPACE_PATTERN = re.compile(r"[a-z0-9*]([-a-z0-9*]*[a-z0-9*])?")
_PATTERN_CACHE: dict[str, re.Pattern[str]] = {}


def _namespace_pattern(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERN_CACHE.get(pattern)
    if compiled is None:
        compiled = re.compile("[-a-z0-9]*".join(re.escape(part) for part in pattern.split("*")))
        _PATTERN_CACHE[pattern] = compiled
    return compiled


def semantic_issues(policy: AccessPolicy) -> list[Issue]:
    """Everything wrong with a structurally valid policy, all at once."""
    issues: list[Issue] = []
    cap = policy.defaults.max_duration
    if policy.defaults.default_duration > cap:
        issues.append(
            Issue(
                "spec.defaults.defaultDuration",
                f"defaultDuration is longer than maxDuration ({_fmt(cap)}): shorten it or raise maxDuration",
            )
        )
    issues.extend(_prefix_issues(policy.identity))
    seen: dict[str, int] = {}
    for index, profile in enumerate(policy.profiles):
        at = f"spec.profiles[{index}]"
        if profile.name in seen:
            issues.append(
                Issue(
                    f"{at}.name",
                    f"profile name {profile.name!r} is already used by spec.profiles[{seen[profile.name]}]: "
                    "profile names must be unique",
                )
            )
        seen.setdefault(profile.name, index)
        issues.extend(_profile_issues(policy, profile, at))
    issues.extend(Issue(at, text) for at, text in alert_rule_issues(policy.alerts, (p.name for p in policy.profiles)))
    return issues


def subject_name_issues(users: Sequence[str], groups: Sequence[str], at: str) -> Iterable[Issue]:
    """The names of a subjects list (``at`` is its path, e.g. ``spec.profiles[0].requesters``) that no signed-in
    identity can carry (:mod:`kubejit.domain.identity_names`): the broker refuses such tokens, so the name would
    match nobody, or, written with stray whitespace or invisible characters, not the person meant."""
    for field_name, names, problem_of in (("users", users, user_name_problem), ("groups", groups, group_name_problem)):
        for index, name in enumerate(names):
            problem = problem_of(name)
            if problem is not None:
                yield Issue(
                    f"{at}.{field_name}[{index}]",
                    f"{quoted(name)} {problem}; no identity the broker accepts has such a name: write the "
                    "name exactly as the identity provider sends it",
                )


def claim_rule_issues(rules: Sequence[Mapping[str, str]], at: str) -> Iterable[Issue]:
    """What is wrong with the ``claims`` rules of a subjects list (``at`` is its path): a rule with no claim
    would match every token, and a claim needs a name and a pattern."""
    for index, rule in enumerate(rules):
        where = f"{at}.claims[{index}]"
        if not rule:
            yield Issue(where, "an empty claims rule would match every token: name at least one claim and its pattern")
        for name, pattern in rule.items():
            if not name.strip() or name != name.strip() or any(not part for part in name.split("/")):
                yield Issue(
                    f"{where}.{name}",
                    f"{quoted(name)} is not a claim name: write it as the issuer's policyClaims lists it "
                    "(e.g. repository or kubernetes.io/namespace)",
                )
            elif not pattern:
                yield Issue(f"{where}.{name}", "the pattern is empty: write the value, or '*' for any value")


def claim_match_from(rule: Mapping[str, str]) -> ClaimMatch:
    """The :class:`ClaimMatch` of one ``claims`` rule of a policy file."""
    return ClaimMatch(tuple(sorted(rule.items())))


def _prefix_issues(mapping: IdentityMapping) -> Iterable[Issue]:
    for field_name, prefix in (("usernamePrefix", mapping.username_prefix), ("groupsPrefix", mapping.groups_prefix)):
        problem = identity_prefix_problem(prefix)
        if problem is not None:
            yield Issue(
                f"spec.identity.{field_name}",
                f"{quoted(prefix)} {problem}: use the prefix kube-apiserver's OIDC settings use, such as 'oidc:'",
            )


def _profile_issues(policy: AccessPolicy, profile: Profile, at: str) -> Iterable[Issue]:
    """Every problem of one profile, in the order a reader meets its fields."""
    max_duration = policy.max_duration_of(profile)
    yield from _duration_issues(policy, profile, at, max_duration)
    yield from _scope_issues(profile, at)
    yield from _approval_issues(profile, at)
    yield from _reference_issues(policy, profile, at)
    yield from _requester_issues(profile, at, max_duration)


def _duration_issues(policy: AccessPolicy, profile: Profile, at: str, max_duration: timedelta) -> Iterable[Issue]:
    cap = policy.defaults.max_duration
    if profile.max_duration is not None and profile.max_duration > cap:
        yield Issue(
            f"{at}.maxDuration",
            f"maxDuration {_fmt(profile.max_duration)} is above the policy's cap spec.defaults.maxDuration "
            f"({_fmt(cap)}): lower it or raise the cap",
        )
    if profile.default_duration is not None and profile.default_duration > max_duration:
        yield Issue(
            f"{at}.defaultDuration",
            f"defaultDuration {_fmt(profile.default_duration)} is longer than this profile's maxDuration "
            f"({_fmt(max_duration)}): shorten it",
        )
    extended = profile.max_extended_duration
    if extended is not None and extended < max_duration:
        yield Issue(
            f"{at}.maxExtendedDuration",
            f"maxExtendedDuration {_fmt(extended)} is shorter than maxDuration ({_fmt(max_duration)}): "
            "it caps a grant's whole life including extensions, so raise it or remove it",
        )


def _scope_issues(profile: Profile, at: str) -> Iterable[Issue]:
    if profile.scope is Scope.NAMESPACED and not profile.namespaces:
        yield Issue(
            f"{at}.namespaces",
            "a namespaced profile needs at least one namespace (a name or a pattern such as payments-*); "
            "for cluster-wide access set scope: cluster",
        )
    if profile.scope is Scope.CLUSTER and profile.namespaces:
        yield Issue(f"{at}.namespaces", "a cluster-scoped profile grants all namespaces: remove namespaces")
    if profile.scope is Scope.CLUSTER and profile.role.kind is RoleKind.ROLE:
        yield Issue(
            f"{at}.role", "a Role can only be bound in its namespace: use clusterRole or rules for scope: cluster"
        )
    for n, pattern in enumerate(profile.namespaces):
        if not NAMESPACE_PATTERN.fullmatch(pattern) or len(pattern) > 63:
            yield Issue(
                f"{at}.namespaces[{n}]",
                f"{pattern!r} is not a namespace name or pattern: use lower-case letters, digits, '-' and '*'",
            )
    if profile.role.kind is RoleKind.ROLE and profile.namespaces:
        others = [p for p in profile.namespaces if p != profile.role.namespace]
        if others:
            yield Issue(
                f"{at}.role.namespace",
                f"Role {profile.role.namespace}/{profile.role.name} can only be bound in namespace "
                f"{profile.role.namespace!r}, but the profile also lists {', '.join(others)}: use a ClusterRole",
            )


def _approval_issues(profile: Profile, at: str) -> Iterable[Issue]:
    if profile.approval.approvers.empty and profile.approval.auto_approve.empty:
        yield Issue(
            f"{at}.approval",
            "nobody can approve this profile: name approvers (groups or users) or autoApprove subjects",
        )
    if profile.approval.auto_approve_max_duration is not None and profile.approval.auto_approve.empty:
        yield Issue(
            f"{at}.approval.autoApprove.maxDuration",
            "maxDuration limits auto-approval, but autoApprove names nobody: name users, groups or claims, "
            "or remove it",
        )
    approvers = profile.approval.approvers
    if not approvers.empty and not approvers.groups and len(approvers.users) < profile.approval.required:
        yield Issue(
            f"{at}.approval.required",
            f"{profile.approval.required} distinct approvers are required but only {len(approvers.users)} "
            "approver user(s) are named and no groups: lower required or add approvers",
        )


def _reference_issues(policy: AccessPolicy, profile: Profile, at: str) -> Iterable[Issue]:
    """Names the profile uses that must exist: guardrails and accepted risk ids."""
    for g, name in enumerate(profile.guardrails):
        if name not in policy.guardrails:
            known = ", ".join(sorted(policy.guardrails)) or "none are defined"
            yield Issue(
                f"{at}.guardrails[{g}]",
                f"guardrail {name!r} is not defined in spec.guardrails (defined: {known})",
            )
    for r, risk in enumerate(profile.allow_risks):
        if RiskId.parse(risk.id) is None:
            yield Issue(
                f"{at}.allowRisks[{r}].id",
                f"{risk.id!r} is not a risk id; known ids: {', '.join(sorted(RiskId))}",
            )
        if not risk.justification.strip():
            yield Issue(f"{at}.allowRisks[{r}].justification", "say why this risk is accepted")


def _requester_issues(profile: Profile, at: str, max_duration: timedelta) -> Iterable[Issue]:
    if profile.requesters.empty and profile.break_glass is None:
        yield Issue(f"{at}.requesters", "nobody may request this profile: name requester groups or users")
    if profile.break_glass is not None:
        if profile.break_glass.allowed.empty:
            yield Issue(f"{at}.breakGlass.allowed", "name who may break the glass (groups or users)")
        bg_max = profile.break_glass.max_duration
        if bg_max is not None and bg_max > max_duration:
            yield Issue(
                f"{at}.breakGlass.maxDuration",
                f"break-glass maxDuration {_fmt(bg_max)} is above the profile's maxDuration ({_fmt(max_duration)})",
            )


def _fmt(duration: timedelta) -> str:
    return format_duration(duration)


# ---- risk assessment ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProfileAssessment:
    """A profile's findings, and whether they refuse it."""

    profile: str
    findings: tuple[Finding, ...]
    accepted: tuple[Finding, ...]  # blocking findings listed in allowRisks
    refusals: tuple[str, ...]  # why the profile may not be used; empty when usable

    @property
    def refused(self) -> bool:
        return bool(self.refusals)


def assess_profile(profile: Profile, findings: tuple[Finding, ...]) -> ProfileAssessment:
    """Apply ``allowRisks`` and the auto-approval rule to a profile's findings.

    A critical or high finding refuses the profile unless its id is accepted with a justification.
    Critical findings are never auto-approved or self-activated: a profile with one must not list
    ``autoApprove`` subjects or allow break-glass, even when the risk is accepted.
    """
    refusals: list[str] = []
    accepted: list[Finding] = []
    for finding in findings:
        if not finding.blocking:
            continue
        if profile.accepted_risk(finding.id) is None:
            refusals.append(
                f"{finding.severity} risk {finding.id} from rule {finding.rule_index} ({finding.rule}): "
                f"{finding.why}; list it in allowRisks with a justification to accept it"
            )
        else:
            accepted.append(finding)
    critical = sorted({f.id for f in findings if f.severity is Severity.CRITICAL})
    if critical and not profile.approval.auto_approve.empty:
        refusals.append(
            f"critical risk(s) {', '.join(critical)} may never be auto-approved: remove approval.autoApprove"
        )
    if critical and profile.break_glass is not None:
        refusals.append(f"critical risk(s) {', '.join(critical)} may never be self-activated: remove breakGlass")
    return ProfileAssessment(profile.name, findings, tuple(accepted), tuple(refusals))

"""Who can act as a ServiceAccount through pods: the derived findings of a scan.

A subject that may create pods (or the workloads whose controllers create them) in a namespace can start a
pod as any ServiceAccount of that namespace and use its token; one that may exec into or attach to pods
acts as the ServiceAccounts of the pods running there; one that may create ``serviceaccounts/token`` mints
a token outright. So a risky ServiceAccount's findings are, one step removed, findings of every subject
that can act as it. :func:`derived_findings` adds them, bounded: at most one derived finding per (subject,
scope of the subject's binding), listing each account reached with what it adds to what the subject holds
already (a subject on cluster-admin gains nothing and gets none). One step only: an account that can act as
others in turn has derived findings of its own, which show the next step.

The ways in are the policy core's own findings on the subject's rules (``serviceaccount-token``,
``pods-create``, ``workloads-create``, ``pods-exec``, ``pods-attach``), so they are exactly what ``kubejit
policy check`` reports; their resourceNames narrow them (named ServiceAccounts for a token, named pods for
exec, attach and an image swap). Exec and attach reach the accounts of the pods the snapshot holds, or, when
pods were not read, any account of the namespace ("any pod's"). Called by :mod:`._scan`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from kubejit.domain.rbac import WILDCARD, PolicyRule
from kubejit.domain.rbac_risk import Finding, RiskId
from kubejit.domain.standing_access._model import (
    BindingDef,
    PodDef,
    ReachedAccount,
    StandingFinding,
    Subject,
    SubjectKind,
)

# The ways in, the strongest first: a token needs no pod at all; exec and attach need a running one.
_WAYS = (
    RiskId.SERVICEACCOUNT_TOKEN,
    RiskId.PODS_CREATE,
    RiskId.WORKLOADS_CREATE,
    RiskId.PODS_EXEC,
    RiskId.PODS_ATTACH,
)
_STRENGTH = {way: index for index, way in enumerate(_WAYS)}
_EVERY_NAMESPACE = ""


def worst_first(finding: Finding) -> tuple[int, bool]:
    """The sort key of one subject's findings: the worst first, cluster-admin leading its severity."""
    return (-finding.severity.rank, finding.id is not RiskId.CLUSTER_ADMIN)


@dataclass(frozen=True)
class _Way:
    """One way in, from one rule of one binding. ``namespace`` empty: every namespace. ``names`` limit it
    (ServiceAccounts for a token, pods for the running ways) unless empty. ``running``: it reaches only the
    accounts of running pods (exec, attach, or an image swap of existing pods)."""

    through: RiskId
    binding: BindingDef
    namespace: str
    names: frozenset[str]
    running: bool


def _starts_new_pods(rule: PolicyRule) -> bool:
    """A pod's ServiceAccount is fixed once it exists: only a new pod (create, never named) picks any account."""
    return not rule.resource_names and (WILDCARD in rule.verbs or "create" in rule.verbs)


def _ways_in(finding: StandingFinding) -> Iterator[_Way]:
    namespace = _EVERY_NAMESPACE if finding.binding.cluster_wide else finding.binding.namespace
    for risk in finding.findings:
        if risk.id not in _STRENGTH:
            continue
        names = frozenset(risk.rule.resource_names)
        if risk.id is RiskId.WORKLOADS_CREATE:  # a named workload's template can still name any account
            yield _Way(risk.id, finding.binding, namespace, frozenset(), running=False)
        elif risk.id is RiskId.SERVICEACCOUNT_TOKEN:
            yield _Way(risk.id, finding.binding, namespace, names, running=False)
        else:
            new_pods = risk.id is RiskId.PODS_CREATE and _starts_new_pods(risk.rule)
            yield _Way(risk.id, finding.binding, namespace, names, running=not new_pods)


@dataclass
class _Account:
    """A ServiceAccount with findings of its own: the worst finding of each risk id, with the binding that
    grants it, the worst first (filled in by :meth:`_Accounts.add`, sorted once by :meth:`_Accounts.done`)."""

    subject: Subject
    worst: dict[RiskId, tuple[Finding, BindingDef]] = field(default_factory=dict)
    risks: list[tuple[int, Finding, BindingDef]] = field(default_factory=list)  # (severity rank, ...)

    def add(self, risk: Finding, binding: BindingDef) -> None:
        known = self.worst.get(risk.id)
        if known is None or risk.severity.rank > known[0].severity.rank:
            self.worst[risk.id] = (risk, binding)


class _Accounts:
    """The risky ServiceAccounts of a scan by namespace, and the running pods' accounts when pods were read."""

    def __init__(self, direct: Sequence[StandingFinding], pods: Sequence[PodDef] | None) -> None:
        self.by_namespace: dict[str, dict[str, _Account]] = {}
        for finding in direct:
            subject = finding.subject
            if subject.kind is SubjectKind.SERVICE_ACCOUNT:
                accounts = self.by_namespace.setdefault(subject.namespace, {})
                account = accounts.setdefault(subject.name, _Account(subject))
                for risk in finding.findings:
                    account.add(risk, finding.binding)
        for accounts in self.by_namespace.values():
            for account in accounts.values():
                ordered = sorted(account.worst.values(), key=lambda pair: worst_first(pair[0]))
                account.risks = [(risk.severity.rank, risk, binding) for risk, binding in ordered]
        self.pods_read = pods is not None
        self._pods: dict[str, list[PodDef]] = {}
        for pod in pods or ():
            if pod.namespace in self.by_namespace:  # pods of other namespaces reach no risky account
                self._pods.setdefault(pod.namespace, []).append(pod)

    def reached_by(self, way: _Way) -> Iterator[tuple[_Account, tuple[str, ...]]]:
        """Each risky account ``way`` reaches, with the running pods (namespace/name) that run as it."""
        namespaces = list(self.by_namespace) if way.namespace == _EVERY_NAMESPACE else [way.namespace]
        for namespace in namespaces:
            accounts = self.by_namespace.get(namespace, {})
            if not way.running or not self.pods_read:
                yield from ((a, ()) for name, a in accounts.items() if not way.names or name in way.names)
                continue
            running: dict[str, list[str]] = {}
            for pod in self._pods.get(namespace, ()):
                if pod.service_account in accounts and (not way.names or pod.name in way.names):
                    running.setdefault(pod.service_account, []).append(f"{namespace}/{pod.name}")
            yield from ((accounts[name], tuple(names)) for name, names in running.items())


def _held(findings: Sequence[StandingFinding]) -> dict[RiskId, int]:
    """The worst severity rank of each risk one subject holds already, over all its bindings."""
    held: dict[RiskId, int] = {}
    for finding in findings:
        for risk in finding.findings:
            held[risk.id] = max(held.get(risk.id, 0), risk.severity.rank)
    return held


def _gained(account: _Account, held: dict[RiskId, int]) -> list[tuple[Finding, BindingDef]]:
    """The account's risks worse than what the subject holds, the worst of each id, the worst first."""
    return [(risk, binding) for rank, risk, binding in account.risks if rank > held.get(risk.id, 0)]


def worst_of_each(risks: Iterable[Finding]) -> tuple[Finding, ...]:
    """The worst finding of each risk id among ``risks``, the worst first."""
    worst: dict[RiskId, Finding] = {}
    for risk in risks:
        if risk.id not in worst or risk.severity.rank > worst[risk.id].severity.rank:
            worst[risk.id] = risk
    return tuple(sorted(worst.values(), key=worst_first))


_RUNNING_VERBS = {
    RiskId.PODS_EXEC: "exec into",
    RiskId.PODS_ATTACH: "attach to",
    RiskId.PODS_CREATE: "swap the image of",
}


def _way_in_words(actor: Subject, account: ReachedAccount) -> str:
    binding = account.binding
    where = "in every namespace" if binding.cluster_wide else f"in namespace {binding.namespace}"
    who = f"{actor} (through {binding})"
    if account.through is RiskId.SERVICEACCOUNT_TOKEN:
        return f"{who} can mint tokens for ServiceAccounts {where}, {account.account} among them"
    if account.through is RiskId.WORKLOADS_CREATE:
        return f"{who} can create or change workloads {where}, and their pods can run as {account.account}"
    if not account.running_pods_only:
        return f"{who} can create pods {where}, and a pod there can run as {account.account}"
    verb = _RUNNING_VERBS[account.through]
    if account.pods:
        return f"{who} can {verb} pods {where}, and pod {account.pods[0]} runs as {account.account}"
    return f"{who} can {verb} any pod {where} (pods were not read: any pod's ServiceAccount), {account.account} too"


def path_through(actor: Subject, reached: Sequence[ReachedAccount]) -> str:
    """The derived finding's path in one sentence: the way in to the worst account, and what that holds."""
    head = reached[0]
    worst = head.gained[0]
    role = head.account_binding.role_ref
    more = len(reached) - 1
    tail = f" (and {more} more risky ServiceAccount{'s' if more > 1 else ''})" if more else ""
    why = worst.why.removesuffix(".")
    return f"{_way_in_words(actor, head)}, whose {role} (bound by {head.account_binding}) {why}{tail}."


def _derived(
    actor: Subject, ways: Sequence[_Way], held: dict[RiskId, int], accounts: _Accounts
) -> StandingFinding | None:
    best: dict[Subject, ReachedAccount] = {}
    tried: set[Subject] = {actor}  # an account does not act as itself
    distinct = {(w.through, w.names, w.running): w for w in reversed(ways)}  # many bindings, one way: the first
    for way in sorted(distinct.values(), key=lambda w: _STRENGTH[w.through]):  # each account by its strongest
        for account, pods in accounts.reached_by(way):
            if account.subject in tried:
                continue
            tried.add(account.subject)
            gained = _gained(account, held)
            if gained:
                risks = tuple(risk for risk, _ in gained)
                best[account.subject] = ReachedAccount(
                    account.subject, way.through, way.binding, risks, gained[0][1], way.running, pods
                )
    if not best:
        return None
    reached = sorted(best.values(), key=lambda r: (worst_first(r.gained[0]), _STRENGTH[r.through], str(r.account)))
    head = reached[0]
    path = path_through(actor, reached)
    all_gained = worst_of_each(risk for account in reached for risk in account.gained)
    return StandingFinding(
        actor,
        head.binding,
        head.binding.role_ref,
        all_gained,
        path,
        tuple(reached),
    )


def derived_findings(direct: Sequence[StandingFinding], pods: Sequence[PodDef] | None) -> list[StandingFinding]:
    """For each subject of ``direct`` with a way in, one finding per scope of its bindings that lists the
    risky ServiceAccounts it can act as and what they add; none where they add nothing."""
    accounts = _Accounts(direct, pods)
    if not accounts.by_namespace:
        return []
    by_actor: dict[Subject, list[StandingFinding]] = {}
    for finding in direct:
        by_actor.setdefault(finding.subject, []).append(finding)
    derived: list[StandingFinding] = []
    for actor, findings in by_actor.items():
        ways_by_scope: dict[str, list[_Way]] = {}
        for finding in findings:
            for way in _ways_in(finding):
                ways_by_scope.setdefault(way.namespace, []).append(way)
        held = _held(findings) if ways_by_scope else {}
        for ways in ways_by_scope.values():
            found = _derived(actor, ways, held, accounts)
            if found is not None:
                derived.append(found)
    return derived

"""The risk registry: one entry per ``RiskId``, holding all that makes its finding.

An entry says the id, its severity, the severity it rises to when granted in every namespace, the escalation
path in one sentence, and the check that finds it (from ``_checks``). Adding a risk
is a ``RiskId`` member and its entry here; importing this module fails while an id has no entry or two.
Called by ``_analysis``, which runs ``RISKS`` in order on every rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubejit.domain.rbac import PolicyRule
from kubejit.domain.rbac_risk import _checks as check
from kubejit.domain.rbac_risk._checks import Check, Match, Profile
from kubejit.domain.rbac_risk._model import RiskId, Severity

_C, _H, _M = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM


@dataclass(frozen=True)
class Hit:
    """A risk found in one rule, adjusted and worded: what becomes a Finding."""

    severity: Severity
    why: str


@dataclass(frozen=True)
class Risk:
    """One registered risk: the check that finds it and how its finding reads and weighs."""

    id: RiskId
    severity: Severity  # unrestricted, before the cluster-wide raise and the resourceNames step down
    why: str  # the escalation path in one sentence, without its full stop
    check: Check
    cluster_wide: Severity | None  # at least this severity when granted in every namespace
    narrowed_by_names: bool  # resourceNames lower the severity one step (never below medium)

    def hit(self, rule: PolicyRule, profile: Profile) -> Hit | None:
        """Run the check on ``rule``; finish its finding with the adjustments, each named in the sentence."""
        answer = self.check(rule, profile)
        if answer is False:
            return None
        match = answer if isinstance(answer, Match) else Match()
        severity = match.severity or self.severity
        why = match.why or self.why
        if profile.cluster_wide and self.cluster_wide is not None and severity.rank < self.cluster_wide.rank:
            severity = self.cluster_wide
            why += ", and the grant covers every namespace, kube-system included"
        narrowed = self.narrowed_by_names and bool(rule.resource_names) if match.narrowed is None else match.narrowed
        if narrowed:
            severity = severity.step(-1)
            why += f" (limited to resourceNames {', '.join(rule.resource_names)})"
        return Hit(severity, why + ".")


_WRITES_EVERYTHING = "can write every resource of every API group, Secrets, RBAC, pods and admission webhooks included"

# Full wildcards are critical only together (every group and every resource) with a write verb; otherwise they
# are hygiene (future resources, future verbs) and the concrete risks they reach have their own ids.
# cluster_wide=critical: the risks that reach "any ServiceAccount (or Secret) in the namespace"; in every
# namespace, that includes kube-system's controllers (e.g. the one holding escalate). Attach is left out: it
# needs a container that keeps stdin open, which system pods rarely do. rbac-write on roles/rolebindings in
# every namespace persists the subject's rights cluster-wide, like ClusterRoleBindings would.
_ENTRIES: tuple[Risk, ...] = (
    Risk(
        RiskId.CLUSTER_ADMIN,
        _C,
        "grants every verb on every resource in every API group: full control of its scope, RBAC and tokens included",
        check.cluster_admin,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.WILDCARD_VERBS,
        _M,
        "grants every verb, escalate, bind, impersonate and verbs added later included, more than the rule shows",
        check.wildcard_verbs,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.WILDCARD_RESOURCES,
        _C,
        _WRITES_EVERYTHING,
        check.wildcard_resources,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.WILDCARD_APIGROUPS,
        _C,
        _WRITES_EVERYTHING,
        check.wildcard_apigroups,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    # Not narrowed by resourceNames: editing one role beyond one's own permissions can put anything in it.
    Risk(
        RiskId.ESCALATE,
        _C,
        "can write roles with permissions it does not hold (no escalation check), and so gain any permission",
        check.escalate,
        cluster_wide=None,
        narrowed_by_names=False,
    ),
    Risk(
        RiskId.BIND,
        _C,
        "can bind any role, cluster-admin included, to any subject, itself too, without holding what they grant",
        check.bind,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.IMPERSONATE,
        _C,
        "can send requests as other users, groups or ServiceAccounts, and so hold all of their permissions",
        check.impersonate,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.SECRETS_READ,
        _H,
        "can read Secret values (list and watch return them too), ServiceAccount tokens and credentials included",
        check.secrets_read,
        cluster_wide=_C,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.PODS_EXEC,
        _H,
        "can run commands in running containers (exec or an added ephemeral container) and use their tokens and mounts",
        check.pods_exec,
        cluster_wide=_C,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.PODS_ATTACH,
        _H,
        "can attach to the main process of running containers and act through it with the pod's ServiceAccount",
        check.pods_attach,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.PODS_PORTFORWARD,
        _M,  # network reach into pods, no identity
        "can connect to pod and Service ports through the API server (port-forward or proxy), bypassing NetworkPolicy",
        check.pods_portforward,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.PODS_CREATE,
        _H,
        "can start a pod (or swap a pod's image) that mounts any ServiceAccount token in the namespace and act as it",
        check.pods_create,
        cluster_wide=_C,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.WORKLOADS_CREATE,
        _H,
        "can create or change a workload controller whose pods mount any ServiceAccount token in the namespace",
        check.workloads_create,
        cluster_wide=_C,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.NODES_PROXY,
        _C,  # the kubelet API: commands in every pod on the node, no audit, no admission
        "reaches the kubelet API, which runs commands in every pod on the node and bypasses audit and admission",
        check.nodes_proxy,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.SERVICEACCOUNT_TOKEN,
        _H,
        "can mint a token for any ServiceAccount in the namespace and act as it",
        check.serviceaccount_token,
        cluster_wide=_C,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.CSR_APPROVE,
        _C,  # a client certificate for system:masters; one step lower while a half is missing
        "can approve certificate signing requests, such as a client certificate for system:masters (cluster-admin)",
        check.csr_approve,
        cluster_wide=None,
        narrowed_by_names=False,
    ),
    Risk(
        RiskId.WEBHOOK_CONFIG,
        _C,
        "can change or remove admission webhooks and policies, which see and rewrite objects and enforce guardrails",
        check.webhook_config,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.RBAC_WRITE,
        _C,  # cluster-scoped RBAC; roles/rolebindings in one namespace are high
        "can write ClusterRoles and ClusterRoleBindings, so it can keep its rights cluster-wide past the grant",
        check.rbac_write,
        cluster_wide=_C,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.PERSISTENTVOLUME_CREATE,
        _H,
        "can create a hostPath PersistentVolume and, through a claim, mount the node's filesystem into a pod",
        check.persistentvolume_create,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    # Minting a token through a Secret rather than the TokenRequest API: the same reach as serviceaccount-token.
    # The token lives until the Secret is deleted (long-lived), and reading it back needs get on the Secret or
    # a pod mounting it; writing Secrets is enough to plant one, so the write alone is the finding.
    Risk(
        RiskId.SECRETS_WRITE,
        _H,
        "can create a Secret of type kubernetes.io/service-account-token for any ServiceAccount in the namespace, "
        "which the token controller fills with a long-lived token of that ServiceAccount",
        check.secrets_write,
        cluster_wide=_C,
        narrowed_by_names=True,
    ),
    # The paths below reach no credential directly; each takes away a guardrail or turns traffic or
    # workloads towards the holder. In every namespace they reach no more than in one (namespaces and nodes
    # are cluster-scoped; kube-system already runs privileged), so none is raised cluster-wide.
    Risk(
        RiskId.NAMESPACE_WRITE,
        _H,  # with pods-create next to it, privileged pods; labels also select webhooks and NetworkPolicies
        "can relabel its namespaces, lifting pod security (pod-security.kubernetes.io/enforce) so pods may run "
        "privileged, and stepping out of webhooks and policies that select namespaces by label",
        check.namespace_write,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.NODE_WRITE,
        _H,
        "can change nodes' labels, taints and status, steering which node runs which pods (and their Secrets) "
        "and where the API server connects for exec and logs",
        check.node_write,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.APISERVICE_WRITE,
        _C,  # like an admission webhook: a server of its choosing sees and answers a whole API group
        "can point an API group at a server of its choosing, which then receives that group's requests, with "
        "the callers' identities, and answers them",
        check.apiservice_write,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.CRD_WRITE,
        _C,  # custom resources drive operators that often hold cluster-admin, and policy engines keep rules there
        "can change or remove custom resource definitions: a conversion webhook of its choosing sees and rewrites "
        "every object of the kind, and deleting one deletes them all (policy engines' rules included)",
        check.crd_write,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
    Risk(
        RiskId.NETWORK_REDIRECT,
        _M,  # traffic, no identity (CVE-2020-8554 is rated medium); TLS with verified certificates still holds
        "can point Services at any address (externalIPs, Endpoints, EndpointSlices, load balancer status, or the IPs "
        "and labels in a pod's status) and so "
        "intercept traffic meant for other workloads, cluster-wide (CVE-2020-8554)",
        check.network_redirect,
        cluster_wide=None,
        narrowed_by_names=True,
    ),
)


def _in_id_order(entries: tuple[Risk, ...]) -> tuple[Risk, ...]:
    """Every id exactly once (refused at import otherwise), ordered so one rule's findings come out by id."""
    ids = [entry.id for entry in entries]
    unregistered = sorted(set(RiskId) - set(ids))
    twice = sorted({risk_id for risk_id in ids if ids.count(risk_id) > 1})
    if unregistered or twice:
        raise RuntimeError(
            f"risk registry: ids without an entry: {', '.join(unregistered) or 'none'}; "
            f"ids with two: {', '.join(twice) or 'none'}"
        )
    return tuple(sorted(entries, key=lambda entry: entry.id))


RISKS = _in_id_order(_ENTRIES)

"""The broker's answer to kube-apiserver's authorization webhook: may this user do this, under a grant, right now?

In authorization-webhook mode kube-apiserver asks the broker about every request of the users kubejit manages
(its AuthorizationConfiguration's matchConditions), before RBAC. The answer reuses the gateway's decision
(:class:`kubejit.services.gateway_access.GatewayAccess`: the grant covers the namespace, the profile's effective
rules allow the verb on the resource, the profile's guardrails allow the request) over the person's ACTIVE grants
read from the store and trusted as the gateway feed trusts them (:func:`~kubejit.services.grant_trust
.trust_problems`):

* covered and the guardrails allow: ``allowed``;
* a guardrail refuses: ``denied`` with the guardrail's message (kube-apiserver stops there: RBAC cannot allow it);
* no grant, or none covers it: no opinion (RBAC decides), with a reason naming the profile to request.

The review carries no request body and no exec command: a request whose guardrail would have to see them (an exec,
a write that sets a container's command, the kubelet's API through ``nodes/proxy``) under an exec guardrail is
refused (fail closed) and told to go through the gateway.

Every review is answered from memory but one read: the audit trail's head, which moves with every change of a
grant's state (so a revoke is seen at the next review); the grants are read again only when it moved. A grant's
end is checked against the clock on every review, so it ends exactly on time. The profiles' rules are resolved
from the cluster once per policy (:meth:`AuthorizationWebhook.prepare`, at start and after a reload), never
during a review. Called by the broker's route ``entrypoints/api/routes/authorization``; built in ``bootstrap``.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kubejit.domain.access_review import AccessReview, parse_review, review_answer
from kubejit.domain.errors import NotFound, Refused, Unauthenticated
from kubejit.domain.grant_book import ActiveGrant, GrantBook
from kubejit.domain.guardrails import Decision, Effect, Guardrail, evaluate
from kubejit.domain.pod_commands import RequestBody, writes_pod_commands
from kubejit.domain.policy import AccessPolicy, Identity, IdentityMapping, Profile
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.requestinfo import RequestAttributes
from kubejit.domain.workflow import State
from kubejit.ports import Clock, RoleRules, UnitOfWorkFactory
from kubejit.services.gateway_access import GatewayAccess, GuardrailRefusal
from kubejit.services.grant_trust import RefusalLog, trust_problems

UNSEEN_COMMAND = (
    "kube-apiserver's authorization webhook does not see the command this request would run, so kubejit cannot "
    "check it: run it through the kubejit gateway (kubejit kubeconfig)"
)
_ALWAYS_FRESH = timedelta(days=3650)  # the book is read from the store on every review: it is never stale


def require_kube_apiserver(presented: str | None, expected_sha256: str | None) -> None:
    """kube-apiserver authenticates to the webhook with the bearer token of its webhook kubeconfig; the broker
    holds its sha256 (compared in constant time). Raises NotFound when the mode is off, Unauthenticated else."""
    if expected_sha256 is None:
        raise NotFound("the authorization webhook is not configured on this broker (authorizationWebhook)")
    digest = hashlib.sha256((presented or "").encode()).hexdigest()
    if not presented or not hmac.compare_digest(digest, expected_sha256):
        raise Unauthenticated(
            "this endpoint is for kube-apiserver's authorization webhook: present the token of its webhook kubeconfig"
        )


def runs_unseen_command(attrs: RequestAttributes) -> bool:
    """Whether judging this request needs what a review does not carry: the exec command, the body's container
    commands, or the kubelet path behind ``nodes/proxy``."""
    if attrs.resource == "pods" and attrs.subresource == "exec":
        return True
    if attrs.resource == "nodes" and attrs.subresource == "proxy":
        return True
    return writes_pod_commands(attrs)


def blind_guardrails(guardrails: Sequence[Guardrail], attrs: RequestAttributes, body: RequestBody | None) -> Decision:
    """The guardrails' decision without the body or the command: an exec guardrail that checks commands (or forbids
    interactive sessions) refuses every request whose command it cannot see; the rest are evaluated as usual."""
    if runs_unseen_command(attrs):
        for guardrail in guardrails:
            rule = guardrail.exec
            if rule is not None and (rule.deny_commands or not rule.allow_interactive_shells):
                message = f"{rule.message}: {UNSEEN_COMMAND}" if rule.message else UNSEEN_COMMAND
                return Decision(Effect.DENY, f"{guardrail.name}.exec", message)
    return evaluate(guardrails, attrs, body)


def broker_identity(mapping: IdentityMapping, review: AccessReview) -> Identity | None:
    """The person a review names, as the broker knows them (the policy's identity prefixes taken off), or None
    when the cluster's name is not one the policy maps (not a user kubejit manages)."""
    if not review.user.startswith(mapping.username_prefix):
        return None
    prefix = mapping.groups_prefix
    groups = frozenset(g.removeprefix(prefix) for g in review.groups if g.startswith(prefix))
    return Identity(review.user.removeprefix(mapping.username_prefix), groups)


@dataclass
class ProfileRules:
    """Each profile's effective RBAC rules, resolved from the cluster once per policy (reviews never wait on it)."""

    role_rules: RoleRules
    _policy: AccessPolicy | None = None
    _rules: dict[str, tuple[PolicyRule, ...]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def prepare(self, policy: AccessPolicy) -> None:
        with self._lock:
            if policy is self._policy:
                return
            self._rules = {p.name: self.role_rules.rules_of(p.role) or () for p in policy.profiles}
            self._policy = policy

    def of(self, policy: AccessPolicy, profile: Profile) -> tuple[PolicyRule, ...]:
        if policy is not self._policy:
            self.prepare(policy)  # a policy loaded since the last prepare (the broker prepares after each reload)
        return self._rules.get(profile.name, ())


@dataclass
class StoredGrants:
    """The trusted active grants, read from the store again only when the audit trail's head has moved (every
    change of a grant's state appends to it in the same transaction) or the policy changed."""

    uow: UnitOfWorkFactory
    refusals: RefusalLog = field(default_factory=lambda: RefusalLog("the authorization webhook"))
    _seq: int = -1  # the audit head the book was read at
    _policy: AccessPolicy | None = None  # and the policy it was judged under
    _book: GrantBook = field(default_factory=lambda: GrantBook(_ALWAYS_FRESH))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def book(self, policy: AccessPolicy, now: datetime) -> GrantBook:
        with self.uow(read_only=True) as uow:
            head = uow.audit.head()
            seq = head.seq if head is not None else 0
            if seq == self._seq and policy is self._policy:
                self._book.heartbeat(now)
                return self._book
            active = uow.requests.find(states=[State.ACTIVE], limit=100_000)
        grants = []
        for stored in active:
            problems = trust_problems(policy, stored)
            if problems:
                self.refusals.first(stored, problems)  # logged once; the keeper audits it and takes it away
                continue
            request = stored.request
            if request.ends_at is not None:
                grants.append(
                    ActiveGrant(
                        request.id,
                        request.requester.user,
                        frozenset(request.requester.groups),
                        request.profile,
                        tuple(request.namespaces),
                        request.ends_at,
                    )
                )
        with self._lock:
            book = GrantBook(_ALWAYS_FRESH)
            book.replace(grants, now, revision=seq)
            self._book, self._seq, self._policy = book, seq, policy
        return book


@dataclass
class AuthorizationWebhook:
    """Answers SubjectAccessReviews (v1) for the users kubejit manages."""

    policy: Callable[[], AccessPolicy]
    uow: UnitOfWorkFactory
    clock: Clock
    role_rules: RoleRules
    on_denied: Callable[[str, str], None] = lambda _profile, _rule: None  # a guardrail's denial (metrics)
    console_url: str | None = None  # the broker's console: refusals link its request page, filled in
    _rules: ProfileRules = field(init=False)
    _grants: StoredGrants = field(init=False)

    def __post_init__(self) -> None:
        self._rules = ProfileRules(self.role_rules)
        self._grants = StoredGrants(self.uow)

    def prepare(self) -> None:
        """Resolve the current policy's profile rules now (at start and after a reload), not at a review."""
        self._rules.prepare(self.policy())

    def review(self, body: object) -> dict[str, Any]:
        """The review ``body`` answered (InvalidInput for a body that is not a v1 SubjectAccessReview)."""
        question = parse_review(body)
        allowed, denied, reason = self.decide(question, self.clock.now())
        sent = body if isinstance(body, Mapping) else {}
        return review_answer(sent, allowed=allowed, denied=denied, reason=reason)

    def decide(self, question: AccessReview, now: datetime) -> tuple[bool, bool, str]:
        """(allowed, denied, reason) for one review at ``now``."""
        policy = self.policy()
        who = broker_identity(policy.identity, question)
        if who is None:
            prefix = policy.identity.username_prefix
            return False, False, f"kubejit: {question.user} is not a user kubejit manages (prefix {prefix!r})"
        access = GatewayAccess(
            lambda: policy,
            lambda profile: self._rules.of(policy, profile),
            self._grants.book(policy, now),
            guardrails_check=blind_guardrails,
            console_url=self.console_url,
        )
        try:
            allowed = access.authorize(question.attrs, now, grant_id=None, user=who.user, groups=who.groups)
        except GuardrailRefusal as refusal:
            self.on_denied(refusal.profile, refusal.rule)
            return False, True, f"kubejit: {refusal}"
        except Refused as refused:
            return False, False, f"kubejit: {refused}"
        grant = allowed.grant
        return True, False, f"kubejit: grant {grant.id} ({grant.profile}) until {grant.ends_at.isoformat()}"

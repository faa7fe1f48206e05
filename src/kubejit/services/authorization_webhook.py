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

What the alert rules see (``on_decision``, wired to ``services/anomaly_watch``): each denial, and each refusal of
a person who holds active grants, as an ``activity.refused`` event of the gateway's shape marked ``source:
webhook`` (a guardrail's denial under the grant whose guardrail refused it, with ``profile`` and ``guardrail``; a
refusal under each of the person's grants, none of which covered it). They are handed over, not recorded: the
audit chain would otherwise take one event per kubectl request; the alert an event raises is audited with it as
evidence. Allowed reviews are not handed over at all (docs/alerts.md says what that leaves unseen).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kubejit.domain.access_review import AccessReview, parse_review, review_answer
from kubejit.domain.audit import AuditEvent, AuditKind, JSONValue
from kubejit.domain.errors import KubejitError, NotFound, Refused, Unauthenticated
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
SOURCE = "webhook"  # how the activity events of the webhook's decisions say where they come from

log = logging.getLogger("kubejit.authorization")
DecisionHook = Callable[[Sequence[AuditEvent]], object]


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
    on_decision: DecisionHook = lambda _events: None  # denials and grant holders' refusals (the alert rules)
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
            self._hand_over(access, question, who, now, refusal)
            return False, True, f"kubejit: {refusal}"
        except Refused as refused:
            self._hand_over(access, question, who, now, refused)
            return False, False, f"kubejit: {refused}"
        grant = allowed.grant
        return True, False, f"kubejit: grant {grant.id} ({grant.profile}) until {grant.ends_at.isoformat()}"

    def _hand_over(
        self, access: GatewayAccess, question: AccessReview, who: Identity, now: datetime, refusal: Refused
    ) -> None:
        """Give ``on_decision`` the refusal as activity under the grants it was refused under (none: nothing)."""
        grants = refused_under(access, question.attrs, who, now, refusal)
        if not grants:
            return
        data = refusal_facts(question.attrs, refusal)
        events = [AuditEvent(0, now, AuditKind.ACTIVITY_REFUSED, who.user, grant.id, data) for grant in grants]
        try:
            self.on_decision(events)
        except Exception:  # the review is answered whatever becomes of its alert
            log.exception("could not hand the authorization webhook's decision to the alert rules")


def refused_under(
    access: GatewayAccess, attrs: RequestAttributes, who: Identity, now: datetime, refusal: Refused
) -> list[ActiveGrant]:
    """The grants a refusal was made under: for a guardrail's denial the one grant whose guardrail refused (the
    first of the person's grants to do so, as the decision tries them); else every grant of theirs still running
    (each was tried and none covered the request)."""
    running = [grant for grant in access.book.of_user(who.user) if grant.ends_at > now]
    if not isinstance(refusal, GuardrailRefusal):
        return running
    for grant in running:
        try:
            access.authorize(attrs, now, grant_id=grant.id, user=who.user, groups=who.groups)
        except GuardrailRefusal:
            return [grant]
        except KubejitError:
            continue
    return []


def refusal_facts(attrs: RequestAttributes, refusal: Refused) -> dict[str, JSONValue]:
    """An ``activity.refused`` event's data as the gateway records it, marked as the webhook's. A denial is a 403;
    a refusal is no opinion (RBAC decides next, which the broker does not hear), so its status is not known."""
    guardrail = refusal.rule if isinstance(refusal, GuardrailRefusal) else ""
    facts: dict[str, JSONValue] = {
        "verb": attrs.verb,
        "apiGroup": attrs.api_group,
        "resource": attrs.resource_path,
        "namespace": attrs.namespace,
        "name": attrs.name,
        "status": 403 if guardrail else 0,
        "decision": "denied" if guardrail else "no-opinion",
        "reason": str(refusal),
        "guardrail": guardrail,
        "source": SOURCE,
    }
    if isinstance(refusal, GuardrailRefusal):
        facts["profile"] = refusal.profile
    return facts

"""The gateway's decision on one request: who is asking, under which grant, and may this request pass?

Order (each step refuses with a Kubernetes-style message saying what to do):
1. the grant is one the broker says is active right now (a revoked grant stops within the stream's delay), the
   token belongs to its user, and the broker's stream is fresh (if it went silent, refuse: fail closed);
2. the grant covers the request: namespace in the grant, and the profile's RBAC rules allow the verb on the
   resource (WebSocket exec/attach/port-forward GETs are checked as ``create``, as kube-apiserver does);
3. the profile's guardrails allow it (warnings pass with a ``Warning`` header); for a request that may set a
   container's command (``pod_commands.writes_pod_commands``) they see the body, which the gateway then reads first.
kube-apiserver still authorizes the impersonated user itself afterwards: the gateway only ever narrows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from kubejit.domain.errors import Refused, Unauthenticated, Unavailable
from kubejit.domain.grant_book import ActiveGrant, GrantBook, not_active
from kubejit.domain.guardrails import Decision, Effect, Guardrail, evaluate
from kubejit.domain.pod_commands import RequestBody
from kubejit.domain.policy import AccessPolicy, Identity, Profile, Scope
from kubejit.domain.rbac import PolicyRule, rule_allows_non_resource, rule_allows_resource
from kubejit.domain.requestinfo import RequestAttributes

# What every authenticated user may read anyway (kube-apiserver's system:discovery and public-info-viewer):
# kubectl needs it before it can do anything with a grant.
DISCOVERY_PATHS = (
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/version",
    "/version/",
    "/openapi/*",
    "/healthz",
    "/livez",
    "/readyz",
)
_DISCOVERY = PolicyRule(("get",), non_resource_urls=DISCOVERY_PATHS)
_STREAMING = frozenset({"exec", "attach", "portforward"})

GuardrailCheck = Callable[[Sequence[Guardrail], RequestAttributes, RequestBody | None], Decision]


@dataclass(frozen=True)
class Allowed:
    grant: ActiveGrant
    decision: Decision  # ALLOW or WARN (with the warnings to pass on)
    cluster_user: str
    cluster_groups: tuple[str, ...]


class GuardrailRefusal(Refused):
    """A grant covers the request, and one of its guardrails refuses it: no other profile is suggested.

    ``profile`` and ``rule`` (e.g. ``no-destructive.deny[0]``) say which, for the metrics and the activity record."""

    def __init__(self, message: str, *, profile: str = "", rule: str = "") -> None:
        super().__init__(message)
        self.profile, self.rule = profile, rule


@dataclass
class GatewayAccess:
    policy: Callable[[], AccessPolicy]
    rules: Callable[[Profile], tuple[PolicyRule, ...]]  # the profile's effective rules (resolved at start)
    book: GrantBook
    # How a profile's guardrails judge a request: the gateway sees bodies and exec commands and evaluates them
    # all; the authorization webhook (services/authorization_webhook) sees neither and refuses what needs them.
    guardrails_check: GuardrailCheck = evaluate
    # The broker's web console ({publicUrl}/console), when known: a suggestion also links its request page for
    # the suggested profile and namespace, filled in.
    console_url: str | None = None

    def authorize(
        self,
        attrs: RequestAttributes,
        now: datetime,
        *,
        grant_id: str | None,
        user: str,
        groups: frozenset[str] = frozenset(),
        body: RequestBody | None = None,
    ) -> Allowed:
        """The grant this request is made under, or a refusal (Unauthenticated, Refused, Unavailable).

        ``body`` is the request body when the request may set a container's command (the exec guardrail checks it).
        A refusal for want of coverage names the profiles this person may request that would cover it."""
        try:
            return self._authorize(attrs, now, grant_id=grant_id, user=user, body=body)
        except Refused as refused:
            if isinstance(refused, GuardrailRefusal):
                raise
            raise Refused(f"{refused}; {self.suggest(attrs, Identity(user, groups), body)}") from None

    def holds_grant(self, grant_id: str | None, user: str) -> bool:
        """Whether the caller holds any active grant the request could be made under (a cheap look before the
        gateway reads a body: a caller with none is refused unread)."""
        try:
            self._candidates(grant_id, user)
        except (Refused, Unauthenticated):
            return False
        return True

    def suggest(self, attrs: RequestAttributes, who: Identity, body: RequestBody | None = None) -> str:
        """Which profiles would cover this request, among those ``who`` may request (the first three)."""
        policy = self.policy()
        covering = [p for p in policy.profiles if p.requesters.includes(who) and self._profile_covers(attrs, p, body)]
        if not covering:
            return "no profile you may request covers this request: ask your platform team"
        first, names = covering[0], [p.name for p in covering]
        # -n only for a namespaced profile: the broker refuses a namespace for a cluster-wide one.
        namespace = f" -n {attrs.namespace}" if attrs.namespace and first.scope is Scope.NAMESPACED else ""
        others = f" (or {', '.join(names[1:3])})" if len(names) > 1 else ""
        command = f"request it with `kubejit request {first.name}{namespace} --reason ...`{others}"
        if self.console_url is None:
            return command
        fields = {"profile": first.name, **({"namespace": attrs.namespace} if namespace else {})}
        return f"{command}, or in the console: {self.console_url}/request?{urlencode(fields)}"

    def _profile_covers(self, attrs: RequestAttributes, profile: Profile, body: RequestBody | None) -> bool:
        namespaced = attrs.is_resource_request and profile.scope is Scope.NAMESPACED
        if namespaced and not (attrs.namespace and profile.allows_namespace(attrs.namespace)):
            return False
        if self._rules_allow(attrs, profile) is not None:
            return False
        policy = self.policy()
        return self.guardrails_check(policy.guardrails_of(profile), attrs, body).effect is not Effect.DENY

    def _authorize(
        self, attrs: RequestAttributes, now: datetime, *, grant_id: str | None, user: str, body: RequestBody | None
    ) -> Allowed:
        if not self.book.fresh(now):
            raise Unavailable("the gateway has not heard from the kubejit broker recently and refuses until it does")
        policy = self.policy()
        candidates = self._candidates(grant_id, user)
        if attrs.is_resource_request is False and rule_allows_non_resource(_DISCOVERY, attrs.verb, attrs.path):
            grant = candidates[0]
            return self._allowed(policy, grant, Decision(Effect.ALLOW))
        refusals: list[str] = []
        for grant in candidates:
            if grant.ends_at <= now:
                refusals.append(f"grant {grant.id} ended at {grant.ends_at.isoformat()}")
                continue
            profile = policy.profile(grant.profile)
            if profile is None:
                refusals.append(f"profile {grant.profile} is no longer in the policy")
                continue
            problem = self._coverage(attrs, grant, profile)
            if problem is not None:
                refusals.append(problem)
                continue
            decision = self.guardrails_check(policy.guardrails_of(profile), attrs, body)
            if decision.effect is Effect.DENY:
                message = f"refused by guardrail {decision.rule}: {decision.message}"
                raise GuardrailRefusal(message, profile=profile.name, rule=decision.rule)
            return self._allowed(policy, grant, decision)
        raise Refused("; ".join(refusals))

    def _candidates(self, grant_id: str | None, user: str) -> list[ActiveGrant]:
        """The grants that may cover the request: the token's own grant (a grant token), or every active grant of
        the user (an ID token)."""
        if grant_id is None:
            candidates = self.book.of_user(user)
            if not candidates:
                raise Refused(f"{user} has no active grant")
            return candidates
        grant = self.book.grants.get(grant_id)
        if grant is None:
            raise Unauthenticated(not_active(grant_id))
        if grant.user != user:
            raise Unauthenticated("this token belongs to another user's grant")
        return [grant]

    def _coverage(self, attrs: RequestAttributes, grant: ActiveGrant, profile: Profile) -> str | None:
        if not attrs.is_resource_request:
            if self._rules_allow(attrs, profile) is None:
                return None
            if profile.scope is Scope.NAMESPACED:
                return (
                    f"grant {grant.id} ({grant.profile}) is namespaced: among paths outside the API it reaches only "
                    f"discovery (/api, /apis, /version, /openapi), not {attrs.path}"
                )
            return f"grant {grant.id} ({grant.profile}) does not cover {attrs.verb.upper()} {attrs.path}"
        if profile.scope is Scope.NAMESPACED:
            if not attrs.namespace:
                where = ", ".join(grant.namespaces)
                return (
                    f"grant {grant.id} ({grant.profile}) covers namespaces {where} only: add -n {grant.namespaces[0]}"
                )
            if attrs.namespace not in grant.namespaces:
                # Suggest the same profile only where the broker would accept it (its namespace patterns).
                hint = (
                    f"request {grant.profile} for it"
                    if profile.allows_namespace(attrs.namespace)
                    else f"{grant.profile} does not reach {attrs.namespace} ({', '.join(profile.namespaces)})"
                )
                return f"grant {grant.id} ({grant.profile}) does not cover namespace {attrs.namespace}: {hint}"
        verb = self._rules_allow(attrs, profile)
        if verb is not None:
            what = attrs.resource_path + (f" in {attrs.api_group}" if attrs.api_group else "")
            return f"grant {grant.id} ({grant.profile}) does not allow {verb} on {what}"
        return None

    def _rules_allow(self, attrs: RequestAttributes, profile: Profile) -> str | None:
        """None when the profile's rules allow the request, else the verb they do not allow."""
        rules = self.rules(profile)
        if not attrs.is_resource_request:
            # Kubernetes grants non-resource URLs only through a ClusterRoleBinding: a namespaced profile's rules
            # (bound by RoleBindings) never reach /metrics, /logs or /debug, so its grant reaches discovery alone.
            allowed = profile.scope is Scope.CLUSTER and any(
                rule_allows_non_resource(r, attrs.verb, attrs.path) for r in rules
            )
            return None if allowed else attrs.verb
        verb = attrs.verb
        if attrs.resource == "pods" and attrs.subresource in _STREAMING and attrs.verb == "get":
            verb = "create"  # what kube-apiserver authorizes for a WebSocket upgrade since 1.35
        if any(
            rule_allows_resource(r, verb, attrs.api_group, attrs.resource, attrs.subresource, attrs.name) for r in rules
        ):
            return None
        return verb

    @staticmethod
    def _allowed(policy: AccessPolicy, grant: ActiveGrant, decision: Decision) -> Allowed:
        mapping = policy.identity
        return Allowed(
            grant,
            decision,
            mapping.cluster_user(grant.user),
            tuple(sorted(mapping.cluster_group(g) for g in grant.groups)),
        )

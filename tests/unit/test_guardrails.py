"""Guardrails decide real request lines (parsed as kube-apiserver parses them) and name the rule that matched."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from kubejit.domain.exec_commands import parse_pattern
from kubejit.domain.guardrails import Effect, ExecRule, Guardrail, RequestRule, evaluate
from kubejit.domain.requestinfo import RequestAttributes, parse_request

NO_DESTRUCTIVE = Guardrail(
    name="no-destructive",
    deny=(
        RequestRule(
            message="deleting namespaces or volumes is not allowed in a JIT session",
            verbs=("delete", "deletecollection"),
            resources=("namespaces", "persistentvolumeclaims"),
        ),
        RequestRule(message="no secrets in prod-*", resources=("secrets",), namespaces=("prod-*",)),
        RequestRule(message="hands off the payment gateway", verbs=("*",), names=("payment-gateway*",)),
        RequestRule(
            message="no exec into kube-system", verbs=("create",), resources=("pods/exec",), namespaces=("kube-system",)
        ),
    ),
    warn=(RequestRule(message="deleting a pod restarts it", verbs=("delete",), resources=("pods",)),),
)
SAFE_EXEC = Guardrail(
    name="safe-exec",
    exec=ExecRule(
        tuple(parse_pattern(p) for p in ("rm -rf", "mkfs", "dd", "shutdown", "reboot")),
        message="refused in a JIT session",
    ),
)
NO_SHELLS = Guardrail(name="no-shells", exec=ExecRule((), allow_interactive_shells=False))


def request(method: str, path: str, query: str = "", *, upgrade: bool = False) -> RequestAttributes:
    return parse_request(method, path, query, upgrade=upgrade)


def exec_request(*command: str, namespace: str = "payments", upgrade: bool = True) -> RequestAttributes:
    query = "&".join(f"command={quote(part, safe='')}" for part in command) + "&stdout=true"
    return request(
        "GET" if upgrade else "POST", f"/api/v1/namespaces/{namespace}/pods/app/exec", query, upgrade=upgrade
    )


@pytest.mark.parametrize(
    ("method", "path", "query", "effect", "rule"),
    [
        ("DELETE", "/api/v1/namespaces/payments", "", Effect.DENY, "no-destructive.deny[0]"),
        ("DELETE", "/api/v1/namespaces/payments/persistentvolumeclaims", "", Effect.DENY, "no-destructive.deny[0]"),
        ("GET", "/api/v1/namespaces/prod-eu/secrets", "", Effect.DENY, "no-destructive.deny[1]"),
        ("GET", "/api/v1/namespaces/dev/secrets", "", Effect.ALLOW, ""),
        (
            "PATCH",
            "/apis/apps/v1/namespaces/payments/deployments/payment-gateway-v2",
            "",
            Effect.DENY,
            "no-destructive.deny[2]",
        ),
        ("DELETE", "/api/v1/namespaces/payments/pods/app-1", "", Effect.WARN, "no-destructive.warn[0]"),
        ("GET", "/api/v1/namespaces/payments/pods", "", Effect.ALLOW, ""),
        ("GET", "/api/v1/namespaces/payments/pods", "watch=true", Effect.ALLOW, ""),
        ("GET", "/version", "", Effect.ALLOW, ""),
        ("DELETE", "/api/v1/namespaces/payments/configmaps/x", "", Effect.ALLOW, ""),
    ],
)
def test_request_rules(method: str, path: str, query: str, effect: Effect, rule: str) -> None:
    decision = evaluate([NO_DESTRUCTIVE], request(method, path, query))
    assert decision.effect is effect
    assert decision.rule == rule
    assert decision.allowed is (effect is not Effect.DENY)


def test_deny_message_reaches_the_user() -> None:
    decision = evaluate([NO_DESTRUCTIVE], request("DELETE", "/api/v1/namespaces/payments"))
    assert decision.message == "deleting namespaces or volumes is not allowed in a JIT session"


def test_a_create_rule_on_pods_exec_also_catches_websocket_exec_which_is_a_get() -> None:
    websocket = exec_request("ls", namespace="kube-system", upgrade=True)
    assert websocket.verb == "get"
    assert evaluate([NO_DESTRUCTIVE], websocket).rule == "no-destructive.deny[3]"
    spdy = exec_request("ls", namespace="kube-system", upgrade=False)
    assert evaluate([NO_DESTRUCTIVE], spdy).rule == "no-destructive.deny[3]"


@pytest.mark.parametrize(
    "command",
    [
        ("rm", "-rf", "/"),
        ("sh", "-c", "rm -rf /"),
        ("env", "rm", "-rf", "/"),
        ("sh", "-c", "true && rm -rf /"),
        ("/bin/rm", "-fr", "/data"),
        ("bash", "-lc", "echo $(dd if=/dev/zero of=/dev/sda)"),
    ],
)
def test_exec_rules_see_through_smuggling(command: tuple[str, ...]) -> None:
    decision = evaluate([SAFE_EXEC], exec_request(*command))
    assert decision.effect is Effect.DENY
    assert decision.rule == "safe-exec.exec"
    assert decision.message.startswith("refused in a JIT session: ")


def test_exec_rules_allow_harmless_commands_and_apply_only_to_exec() -> None:
    assert evaluate([SAFE_EXEC], exec_request("ls", "-la")).effect is Effect.ALLOW
    attach = request("GET", "/api/v1/namespaces/payments/pods/app/attach", "command=rm&command=-rf", upgrade=True)
    assert evaluate([SAFE_EXEC], attach).effect is Effect.ALLOW  # attach runs nothing new


def test_commands_that_cannot_be_checked_are_refused_when_failing_closed() -> None:
    decision = evaluate([SAFE_EXEC], exec_request("sh", "-c", "$CMD -rf /"))
    assert decision.effect is Effect.DENY
    assert "cannot" in decision.message


def test_interactive_shells_are_allowed_unless_the_rule_says_otherwise() -> None:
    assert evaluate([SAFE_EXEC], exec_request("sh")).effect is Effect.ALLOW
    refused = evaluate([NO_SHELLS], exec_request("/bin/bash"))
    assert refused.effect is Effect.DENY
    assert "interactive shell" in refused.message


def test_first_deny_wins_across_guardrails_and_warnings_collect() -> None:
    decision = evaluate([SAFE_EXEC, NO_DESTRUCTIVE], request("DELETE", "/api/v1/namespaces/payments"))
    assert decision.rule == "no-destructive.deny[0]"
    assert evaluate([], request("DELETE", "/api/v1/namespaces/payments")).effect is Effect.ALLOW

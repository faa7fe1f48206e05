"""One guardrail decision against a 50-rule policy, next to its baselines, in one run.

Each iteration takes a request line as the gateway receives it. Baselines: parsing the request line into
attributes (``parse_request``, which the gateway does anyway) and evaluating an empty guardrail set.
Measured: evaluating the 50 deny rules of five guardrail sets (the worst case: a request no rule denies
walks all of them), an exec request checked by a safe-exec guardrail, and a Deployment (two containers with
commands and environment) created under it, whose body is parsed and each command line checked. Target: median
well under 50 µs (the Deployment, which only pod-writing requests pay, aside). Then the worst case of the exec
check: pathological command lines (deep nesting, unbalanced arithmetic, re-read test and eval chains...) just
under the size cap, each timed, the slowest printed beside a normal exec.

    .venv/bin/python bench/guardrail_decision.py
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

from _policies import policy_yaml

from kubejit.adapters.policy_file import load_policy
from kubejit.domain.exec_commands import MAX_ARGV_BYTES, CommandPattern, check_exec, parse_pattern
from kubejit.domain.guardrails import ExecRule, Guardrail, evaluate
from kubejit.domain.pod_commands import RequestBody
from kubejit.domain.requestinfo import parse_request

REQUESTS = [
    ("GET", "/api/v1/namespaces/team-7-prod/pods/web-5d9c7", ""),
    ("GET", "/apis/apps/v1/namespaces/team-3-dev/deployments", "limit=500"),
    ("PATCH", "/apis/apps/v1/namespaces/team-2-dev/deployments/api", ""),
    ("DELETE", "/api/v1/namespaces/team-9-x/configmaps/settings", ""),
    ("GET", "/api/v1/namespaces/team-1-a/pods", "watch=true&resourceVersion=12345"),
]
EXEC = (
    "GET",
    "/api/v1/namespaces/team-1-a/pods/web/exec",
    "command=sh&command=-c&command=cd%20%2Fapp%20%26%26%20ls&stdout=true",
)

DEPLOYMENT = RequestBody(
    json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "api", "namespace": "team-1-a", "labels": {"app": "api", "tier": "backend"}},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "api"}},
                "template": {
                    "metadata": {"labels": {"app": "api"}},
                    "spec": {
                        "initContainers": [
                            {"name": "migrate", "image": "app:1", "command": ["sh", "-c", "./manage.py migrate"]}
                        ],
                        "containers": [
                            {
                                "name": "api",
                                "image": "app:1",
                                "command": ["gunicorn"],
                                "args": ["--bind", "0.0.0.0:$(PORT)", "app.wsgi"],
                                "env": [{"name": "PORT", "value": "8080"}, {"name": "MODE", "value": "prod"}],
                                "ports": [{"containerPort": 8080}],
                                "resources": {"limits": {"cpu": "1", "memory": "512Mi"}},
                            }
                        ],
                    },
                },
            },
        }
    ).encode(),
    "application/json",
)


def per_call_us(action: Callable[[], object], *, batches: int = 30, per_batch: int = 2000) -> tuple[float, float]:
    """Median and p99 over batches of the mean per-call time, in µs."""
    samples = []
    for _ in range(batches):
        started = time.perf_counter_ns()
        for _ in range(per_batch):
            action()
        samples.append((time.perf_counter_ns() - started) / per_batch / 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def pathological_commands(cap: int) -> dict[str, list[str]]:
    """Command lines that cost the analysis the most per byte, each filled to just under ``cap`` bytes."""
    room = cap - 16  # "sh", "-c" and the terminating NULs of the arguments

    def fill(unit: str, head: str = "", tail: str = "") -> str:
        return head + (unit * (room // len(unit) + 1))[: room - len(head) - len(tail)] + tail

    return {
        "unbalanced ((": ["sh", "-c", fill("((")],
        "[[ ... && chain": ["sh", "-c", fill("[[ a && ")],
        "eval chain": ["sh", "-c", fill("eval ")],
        "backticks": ["sh", "-c", fill("`")],
        "subshells": ["sh", "-c", fill("(", tail=")" * (room // 2))],
        "env -S chain": ["env", "-S", fill("env -S ")],
        "one long command": ["sh", "-c", fill("a ")],
        "quoted $( text": ["sh", "-c", fill("'$(' ")],
        "here-document": ["sh", "-c", fill("$(true)\n", head="cat <<E\n", tail="\nE\n")],
        "arrays": ["sh", "-c", fill("a=(")],
        "extglobs": ["bash", "-c", fill("@(")],
        "many words": ["x"] * (cap // 2 - 1),
    }


def worst_case(patterns: list[CommandPattern]) -> tuple[str, float]:
    """The slowest pathological command at the cap: its name and the time of one check, in ms (best of 3)."""
    slowest = ("", 0.0)
    for name, argv in pathological_commands(MAX_ARGV_BYTES).items():
        best = float("inf")
        for _ in range(3):
            started = time.perf_counter_ns()
            check_exec(argv, patterns)
            best = min(best, (time.perf_counter_ns() - started) / 1e6)
            if best > 1000:
                break  # one run says enough
        if best > slowest[1]:
            slowest = (name, best)
    return slowest


def main() -> None:
    policy = load_policy(policy_yaml(10, guardrail_rules=50), "bench.yaml")
    guardrails = list(policy.guardrails.values())
    rule_count = sum(len(g.deny) + len(g.warn) for g in guardrails)
    safe_exec = Guardrail(
        "safe-exec", exec=ExecRule(tuple(parse_pattern(p) for p in ("rm -rf", "mkfs", "dd", "shutdown", "reboot")))
    )
    parsed = [parse_request(m, p, q) for m, p, q in REQUESTS]
    exec_attrs = parse_request(*EXEC, upgrade=True)
    create_deployment = parse_request("POST", "/apis/apps/v1/namespaces/team-1-a/deployments")
    counter = iter(range(10**12))

    def next_request() -> int:
        return next(counter) % len(REQUESTS)

    rows = [
        ("baseline  parse the request line", lambda: parse_request(*REQUESTS[next_request()])),
        ("baseline  evaluate no guardrails", lambda: evaluate([], parsed[next_request()])),
        (
            f"measured  evaluate {rule_count} rules in {len(guardrails)} sets",
            lambda: evaluate(guardrails, parsed[next_request()]),
        ),
        ("measured  parse + evaluate", lambda: evaluate(guardrails, parse_request(*REQUESTS[next_request()]))),
        ("measured  exec: sh -c 'cd /app && ls' vs 5 patterns", lambda: evaluate([safe_exec], exec_attrs)),
        (
            "measured  Deployment, 2 containers, vs 5 patterns",
            lambda: evaluate([safe_exec], create_deployment, DEPLOYMENT),
        ),
    ]
    print("per decision (median of 30 batches of 2,000; p99 of batch means):")
    for label, action in rows:
        median, p99 = per_call_us(action)
        print(f"  {label:52} median {median:6.1f} µs   p99 {p99:6.1f} µs")
    print("target: measured median well under 50 µs")
    name, worst_ms = worst_case(list(safe_exec.exec.deny_commands) if safe_exec.exec else [])
    normal_us, _ = per_call_us(lambda: evaluate([safe_exec], exec_attrs))
    print(
        f"worst-case exec command at the {MAX_ARGV_BYTES}-byte cap ({name}): {worst_ms:,.1f} ms per check, "
        f"vs {normal_us:.1f} µs for a normal exec"
    )


if __name__ == "__main__":
    main()

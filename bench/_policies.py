"""Generated policies for the benchmarks: realistic shapes at chosen sizes."""

from __future__ import annotations

import yaml

VERBS = (["get", "list", "watch"], ["create", "update", "patch"], ["delete"], ["get"])
RESOURCES = ("pods", "deployments", "configmaps", "services", "jobs", "pods/log", "ingresses", "secrets")


ROLE_RULES = {
    "team-reader": [
        {"apiGroups": ["", "apps", "batch"], "resources": [r], "verbs": ["get", "list", "watch"]} for r in RESOURCES[:7]
    ],
}


def _role(p: int, rules_per_profile: int) -> dict[str, object]:
    """Half the profiles name a ClusterRole (as most real policies do), half carry inline rules."""
    if p % 2:
        return {"clusterRole": "team-reader"}
    return {
        "rules": [
            {
                "apiGroups": ["", "apps", "batch"],
                "resources": [RESOURCES[(p + r) % 7]],
                "verbs": ["get", "list", "watch"],
            }
            for r in range(rules_per_profile)
        ]
    }


def policy_yaml(profiles: int, rules_per_profile: int = 4, guardrail_rules: int = 50) -> str:
    """A valid AccessPolicy with ``profiles`` profiles and five guardrail sets of ``guardrail_rules`` rules in all."""
    guardrails = [
        {
            "name": f"guard-{g}",
            "deny": [
                {
                    "verbs": VERBS[(g + i) % len(VERBS)],
                    "resources": [RESOURCES[(g * 3 + i) % len(RESOURCES)]],
                    "namespaces": [f"team-{i}-*"],
                    "message": f"rule {g}.{i}",
                }
                for i in range(guardrail_rules // 5)
            ],
        }
        for g in range(5)
    ]
    document = {
        "apiVersion": "kubejit.io/v1alpha1",
        "kind": "AccessPolicy",
        "metadata": {"name": "bench"},
        "spec": {
            "defaults": {"defaultDuration": "30m", "maxDuration": "4h", "pendingTimeout": "1h"},
            "profiles": [
                {
                    "name": f"team-{p}-read",
                    "description": f"read access for team {p}",
                    **_role(p, rules_per_profile),
                    "namespaces": [f"team-{p}", f"team-{p}-*"],
                    "maxDuration": "2h",
                    "requesters": {"groups": [f"team-{p}-devs"]},
                    "approval": {"approvers": {"groups": [f"team-{p}-leads"]}, "required": 1},
                    "reason": {"required": True, "pattern": "^(INC|CHG)-[0-9]+"},
                    "guardrails": [f"guard-{p % 5}"],
                }
                for p in range(profiles)
            ],
            "guardrails": guardrails,
        },
    }
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=120)

"""What ``kubejit profiles rightsize`` prints, and the checks its proposal passes before it is printed.

:mod:`kubejit.entrypoints.cli.profiles` builds a :class:`RightsizeReport` from the broker's usage answer and the
domain's :class:`~kubejit.domain.rightsize.Rightsizing`; this module turns it into text for people, JSON for
scripts, and the YAML snippet of the profile to paste into the policy. The snippet is loaded back through the
policy file loader and the policy core's checks (:func:`kubejit.domain.rightsize.proposal_problems`) first: what
is printed as a proposal is a profile ``kubejit policy check`` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.markup import escape

from kubejit.adapters.policy_file import load_policy
from kubejit.domain.policy import PolicyError, Scope
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.rightsize import (
    GrantWindow,
    ProfileFacts,
    Rightsizing,
    Source,
    Use,
    proposal_problems,
    risks_no_longer_needed,
    rule_as_written,
    rule_from_written,
)

DIRECT_UNSEEN = (
    "no --audit-log: direct use of the grants' RBAC bindings\n"
    "  (kubectl with an ID token, not through the gateway) is not seen;\n"
    "  give kube-apiserver's audit log with --audit-log FILE"
)


@dataclass(frozen=True)
class RightsizeReport:
    usage: dict[str, Any]  # the broker's answer (GET /api/v1/profiles/{name}/usage)
    window: str  # --since as given
    audit_logs: tuple[Path, ...]
    result: Rightsizing
    gateway_uses: int
    direct_uses: int
    problems: tuple[str, ...]  # why the proposal would not pass the policy core (empty: it passes)


def rule_of(fields: dict[str, list[str]]) -> PolicyRule:
    return rule_from_written(fields)


def gateway_use(fields: dict[str, Any]) -> Use:
    return Use(
        verb=fields["verb"],
        api_group=fields.get("apiGroup", ""),
        resource=fields.get("resource", ""),
        name=fields.get("name", ""),
        path=fields.get("path", ""),
        source=Source.GATEWAY,
    )


def grant_windows(usage: dict[str, Any]) -> list[GrantWindow]:
    return [
        GrantWindow(
            g["id"],
            g["clusterUser"],
            datetime.fromisoformat(g["start"]),
            datetime.fromisoformat(g["end"]),
            tuple(g["namespaces"]),
        )
        for g in usage["grants"]
    ]


def _facts(usage: dict[str, Any]) -> ProfileFacts:
    return ProfileFacts(
        name=usage["profile"],
        scope=Scope(usage["scope"]),
        namespaces=tuple(usage["namespaces"]),
        allow_risks=tuple((r["id"], r["justification"]) for r in usage["allowRisks"]),
        auto_approve=usage["autoApprove"],
        break_glass=usage["breakGlass"],
    )


def _profile_document(usage: dict[str, Any], proposal: tuple[PolicyRule, ...]) -> dict[str, Any]:
    """The snippet: the profile's name and its proposed rules (and the allowRisks they still need)."""
    facts = _facts(usage)
    unneeded = set(risks_no_longer_needed(facts, proposal))
    document: dict[str, Any] = {"name": facts.name, "rules": [rule_as_written(r) for r in proposal]}
    kept = [{"id": i, "justification": j} for i, j in facts.allow_risks if i not in unneeded]
    if kept:
        document["allowRisks"] = kept
    return document


def check_proposal(usage: dict[str, Any], proposal: tuple[PolicyRule, ...]) -> tuple[str, ...]:
    """Load the snippet back as a policy (with stand-in requesters and approvers) and run the policy core's
    checks on it: the problems, or () when ``kubejit policy check`` would accept it."""
    facts = _facts(usage)
    profile = {**_profile_document(usage, proposal), "requesters": {"users": ["rightsize-check"]}}
    profile["approval"] = {"approvers": {"users": ["rightsize-check"]}}
    if facts.scope is Scope.CLUSTER:
        profile["scope"] = "cluster"
    else:
        profile["namespaces"] = list(facts.namespaces)
    policy = {
        "apiVersion": "kubejit.io/v1alpha1",
        "kind": "AccessPolicy",
        "metadata": {"name": "rightsize-check"},
        "spec": {"profiles": [profile]},
    }
    try:
        load_policy(yaml.safe_dump(policy, sort_keys=False), source="the proposal")
    except PolicyError as error:
        return tuple(str(issue) for issue in error.issues)
    kept = _profile_document(usage, proposal).get("allowRisks", [])
    checked = ProfileFacts(
        facts.name,
        facts.scope,
        facts.namespaces,
        tuple((r["id"], r["justification"]) for r in kept),
        facts.auto_approve,
        facts.break_glass,
    )
    return proposal_problems(checked, proposal)


def snippet(report: RightsizeReport) -> str:
    """The proposed profile as YAML, to paste over the profile's clusterRole/role/rules in spec.profiles."""
    proposal = report.result.proposal or ()
    body = yaml.safe_dump([_profile_document(report.usage, proposal)], sort_keys=False, default_flow_style=None)
    head = (
        f"# kubejit profiles rightsize {report.usage['profile']} --since {report.window}\n"
        "# in spec.profiles, replace this profile's clusterRole, role or rules with these rules\n"
    )
    return head + body


def _used_json(report: RightsizeReport) -> list[dict[str, Any]]:
    return [
        {
            "apiGroup": a.api_group,
            "resource": a.resource,
            "verb": a.verb,
            "count": a.count,
            "names": list(a.names),
            "sources": list(a.sources),
            "nonResource": a.non_resource,
        }
        for a in report.result.used
    ]


def report_json(report: RightsizeReport) -> dict[str, Any]:
    result, usage = report.result, report.usage
    proposal = None if result.proposal is None else _profile_document(usage, result.proposal)
    return {
        "profile": usage["profile"],
        "since": usage["since"],
        "until": usage["until"],
        "grants": len(usage["grants"]),
        "uses": {"gateway": report.gateway_uses, "kubeApiserver": report.direct_uses},
        "auditLogs": [str(p) for p in report.audit_logs],
        "directUseSeen": bool(report.audit_logs),
        "granted": usage["rules"],
        "used": _used_json(report),
        "notGranted": [str(a) for a in result.not_granted],
        "removed": [
            {
                "rule": rule_as_written(t.rule),
                "whole": t.removed,
                "verbs": list(t.unused_verbs),
                "resources": list(t.unused_resources),
                "apiGroups": list(t.unused_groups),
            }
            for t in result.trims
            if t.removed or t.unused_verbs or t.unused_resources or t.unused_groups
        ],
        "proposal": proposal,
        "problems": list(report.problems),
        "truncated": usage["truncated"],
    }


def _trim_line(index: int, rule: PolicyRule, parts: list[str]) -> str:
    return f"  rule {index} ({rule}): " + "; ".join(parts)


def _removed_lines(result: Rightsizing) -> list[str]:
    lines = []
    for trim in result.trims:
        if trim.removed:
            lines.append(_trim_line(trim.index, trim.rule, ["not used at all: removed"]))
            continue
        parts = [f"unused verbs {', '.join(trim.unused_verbs)}"] if trim.unused_verbs else []
        parts += [f"unused resources {', '.join(trim.unused_resources)}"] if trim.unused_resources else []
        parts += [f"unused apiGroups {', '.join(repr(g) for g in trim.unused_groups)}"] if trim.unused_groups else []
        if "*" in trim.rule.verbs or "*" in trim.rule.resources or "*" in trim.rule.api_groups:
            parts.append("its * narrowed to what was used")
        if parts:
            lines.append(_trim_line(trim.index, trim.rule, parts))
    return lines


def _print_header(out: Console, report: RightsizeReport) -> None:
    usage = report.usage
    where = "cluster-wide" if usage["scope"] == "cluster" else f"in {', '.join(usage['namespaces'])}"
    out.print(f"[bold]{escape(usage['profile'])}[/]  grants {escape(usage['role'])} {escape(where)}")
    out.print(
        f"last {report.window}: {len(usage['grants'])} grant(s), {report.gateway_uses} use(s) through the gateway"
        + (f", {report.direct_uses} direct (kube-apiserver audit log)" if report.audit_logs else "")
    )
    if not report.audit_logs:
        out.print(f"note: {DIRECT_UNSEEN}")
    if usage["truncated"]:
        out.print("note: the window holds more activity than one report reads: look at a shorter --since too")


def print_report(out: Console, report: RightsizeReport) -> None:
    """The report for people: what was used, what would go, and the snippet (or why there is none)."""
    _print_header(out, report)
    result = report.result
    if result.proposal is None:
        what = "no grant of it was active" if not report.usage["grants"] else "its grants used nothing it grants"
        out.print(f"\nno proposal: {what} in the last {report.window}. Nothing is removed on no evidence: look "
                  "further back with --since, add --audit-log, or retire the profile if nobody needs it")  # fmt: skip
        return
    out.print("\nused:")
    for access in result.used:
        names = f" ({', '.join(access.names)})" if access.names else ""
        seen = ", ".join(access.sources)
        out.print(f"  {escape(str(access))}{escape(names)}  x{access.count}  via {seen}")
    if result.not_granted:
        out.print("used but not granted by this profile (left out):")
        for access in result.not_granted:
            out.print(f"  {escape(str(access))}")
    removed = _removed_lines(result)
    out.print("\nwould be removed:" if removed else "\nnothing to remove: the grants used every listed permission")
    for line in removed:
        out.print(escape(line))
    if report.problems:
        out.print("\n[red]the proposal does not pass the policy checks:[/]")
        for problem in report.problems:
            out.print(f"  {escape(problem)}")
        return
    out.print("\nproposal (passes the policy checks):\n")
    out.print(escape(snippet(report)), end="")

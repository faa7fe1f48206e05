"""``kubejit policy check|explain|rbac``: is this policy usable, what does a profile really grant, and which RBAC
does the broker need for it?

``check`` exits 0 when the file is valid and every analyzed profile is usable, 1 when the syntax is valid but
a profile is refused by its risk findings, 2 when the file is invalid. Without ``--kubeconfig`` only rules
written in the policy can be analyzed; profiles that name a ClusterRole or Role are reported as not
analyzed (never as safe). With it, the roles are read from the cluster, aggregated ClusterRoles included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubejit.adapters.policy_file import load_policy_file
from kubejit.domain.durations import format_duration
from kubejit.domain.errors import NotFound
from kubejit.domain.policy import AccessPolicy, LocatedIssue, PolicyError, Profile, Scope, Subjects
from kubejit.domain.rbac_risk import Finding
from kubejit.entrypoints.cli.errors import EXIT_OK, EXIT_REFUSED, EXIT_USAGE
from kubejit.entrypoints.cli.output import OutputOption, checked, print_json
from kubejit.ports import RoleRules
from kubejit.services.policy_review import (
    InlineRulesOnly,
    PolicyReview,
    ProfileReview,
    review_policy,
    review_profile,
)

app = typer.Typer(help="Check a policy file and explain what its profiles grant.")

FileArgument = Annotated[Path, typer.Argument(help="The AccessPolicy YAML file.", show_default=False)]
KubeconfigOption = Annotated[
    Path | None,
    typer.Option("--kubeconfig", help="Read the ClusterRoles and Roles that profiles name from this cluster."),
]

_out = Console(highlight=False, soft_wrap=True)


def _role_rules(kubeconfig: Path | None) -> RoleRules:
    if kubeconfig is None:
        return InlineRulesOnly()
    from kubejit.adapters.kube.role_rules import ClusterRoleRules

    return ClusterRoleRules.from_kubeconfig(kubeconfig)


@app.command()
def check(file: FileArgument, kubeconfig: KubeconfigOption = None, output: OutputOption = "text") -> None:
    """Validate FILE and analyze each profile's permissions for escalation risks."""
    checked(output)
    try:
        policy = load_policy_file(file)
    except PolicyError as error:
        if output != "json":
            raise
        print_json({"file": str(file), "valid": False, "issues": [_issue_json(i) for i in error.issues]})
        raise typer.Exit(EXIT_USAGE) from None
    review = review_policy(policy, _role_rules(kubeconfig))
    if output == "json":
        print_json(
            {
                "file": str(file),
                "valid": True,
                "usable": not review.refused,
                "profiles": [_profile_json(r) for r in review.profiles],
            }
        )
    else:
        _print_check(file, review, analyzed_with_cluster=kubeconfig is not None)
    raise typer.Exit(EXIT_REFUSED if review.refused else EXIT_OK)


@app.command()
def explain(
    file: FileArgument,
    profile: Annotated[str, typer.Argument(help="The profile's name.", show_default=False)],
    kubeconfig: KubeconfigOption = None,
    output: OutputOption = "text",
) -> None:
    """Show who may use PROFILE, for how long, under which guardrails, its effective rules and its findings."""
    checked(output)
    policy = load_policy_file(file)
    chosen = policy.profile(profile)
    if chosen is None:
        raise NotFound(f"{file} has no profile {profile!r}; profiles: {', '.join(p.name for p in policy.profiles)}")
    reviewed = review_profile(chosen, _role_rules(kubeconfig))
    if output == "json":
        print_json(_profile_json(reviewed, policy))
    else:
        _print_explain(policy, reviewed)


# ---- rendering ---------------------------------------------------------------------------------------------------


def _issue_json(issue: LocatedIssue) -> dict[str, Any]:
    return {"line": issue.line, "column": issue.column, "path": issue.path, "message": issue.message}


def _finding_json(finding: Finding, accepted: bool) -> dict[str, Any]:
    return {
        "id": finding.id,
        "severity": str(finding.severity),
        "rule": finding.rule_index,
        "ruleText": str(finding.rule),
        "why": finding.why,
        "blocking": finding.blocking,
        "accepted": accepted,
    }


def _subjects_json(subjects: Subjects) -> dict[str, Any]:
    document: dict[str, Any] = {"users": sorted(subjects.users), "groups": sorted(subjects.groups)}
    if subjects.claims:  # only when the policy names workloads by claims (each rule: claim -> pattern)
        document["claims"] = [dict(match.patterns) for match in subjects.claims]
    return document


def _auto_approve_json(profile: Profile) -> dict[str, Any]:
    document = _subjects_json(profile.approval.auto_approve)
    if profile.approval.auto_approve_max_duration is not None:
        document["maxDuration"] = format_duration(profile.approval.auto_approve_max_duration)
    return document


def _profile_json(review: ProfileReview, policy: AccessPolicy | None = None) -> dict[str, Any]:
    profile = review.profile
    assessment = review.assessment
    accepted_ids = {f.id for f in assessment.accepted} if assessment else set()
    document: dict[str, Any] = {
        "name": profile.name,
        "role": profile.role.describe(),
        "analyzed": review.analyzed,
        "refused": review.refused,
        "refusals": list(assessment.refusals) if assessment else [],
        "findings": [_finding_json(f, f.id in accepted_ids) for f in assessment.findings] if assessment else [],
    }
    if policy is not None:
        document.update(
            {
                "description": profile.description,
                "scope": str(profile.scope),
                "namespaces": list(profile.namespaces),
                "maxDuration": format_duration(policy.max_duration_of(profile)),
                "defaultDuration": format_duration(policy.default_duration_of(profile)),
                "requesters": _subjects_json(profile.requesters),
                "approvers": _subjects_json(profile.approval.approvers),
                "requiredApprovals": profile.approval.required,
                "autoApprove": _auto_approve_json(profile),
                "guardrails": list(profile.guardrails),
                "rules": [str(r) for r in review.rules] if review.rules is not None else None,
            }
        )
    return document


def _status(review: ProfileReview) -> str:
    if not review.analyzed:
        return "[yellow]not analyzed[/]"
    return "[bold red]refused[/]" if review.refused else "[green]usable[/]"


def _findings_table(review: ProfileReview) -> Table | None:
    assessment = review.assessment
    if assessment is None or not assessment.findings:
        return None
    accepted = {f.id for f in assessment.accepted}
    table = Table(box=None, pad_edge=False, show_header=True, header_style="dim")
    for column in ("severity", "risk", "rule", "why"):
        table.add_column(column, overflow="fold")
    for finding in assessment.findings:
        severity = str(finding.severity)
        if finding.id in accepted:
            severity += " (accepted)"
        table.add_row(severity, finding.id, f"#{finding.rule_index} {escape(str(finding.rule))}", escape(finding.why))
    return table


def check_headline(file: Path, review: PolicyReview) -> str:
    """The first line of ``policy check``: valid, and whether any profile is refused (the exit code's reason)."""
    total, refused = len(review.profiles), len(review.refused)
    where = f"{escape(str(file))}: policy {review.policy.name!r}"
    if refused:
        return f"{where} is valid, but [bold red]refused[/]: {refused} of {total} profiles cannot be used (below)"
    return f"{where} is valid ({total} profile{'' if total == 1 else 's'})"


def _print_check(file: Path, review: PolicyReview, *, analyzed_with_cluster: bool) -> None:
    _out.print(check_headline(file, review))
    for profile_review in review.profiles:
        role = escape(profile_review.profile.role.describe())
        _out.print(f"\n[bold]{profile_review.profile.name}[/] ({role}): {_status(profile_review)}")
        if not profile_review.analyzed:
            _out.print("  its rules live in the cluster: run with --kubeconfig to analyze them")
            continue
        table = _findings_table(profile_review)
        if table is not None:
            _out.print(table)
        for refusal in profile_review.assessment.refusals if profile_review.assessment else ():
            _out.print(f"  [red]refused:[/] {escape(refusal)}")
    refused = len(review.refused)
    summary = f"\n{refused} profile(s) refused" if refused else "\nall analyzed profiles are usable"
    if review.not_analyzed and not analyzed_with_cluster:
        summary += f"; {len(review.not_analyzed)} not analyzed without --kubeconfig"
    _out.print(summary)


def _who(subjects: Subjects) -> str:
    return escape(subjects.describe())


def _print_explain(policy: AccessPolicy, review: ProfileReview) -> None:
    profile: Profile = review.profile
    scope = (
        "all namespaces (ClusterRoleBinding)"
        if profile.scope is Scope.CLUSTER
        else ", ".join(profile.namespaces) + " (RoleBindings)"
    )
    approval = profile.approval
    lines = [
        f"[bold]{profile.name}[/]: {escape(profile.description)}"
        if profile.description
        else f"[bold]{profile.name}[/]",
        f"grants        {escape(profile.role.describe())} in {escape(scope)}",
        f"requested by  {_who(profile.requesters)}",
        f"approved by   {approval.required} of {_who(approval.approvers)}"
        + (" (self-approval allowed)" if approval.allow_self_approval else " (never the requester)"),
        f"auto-approved {_who(approval.auto_approve)}"
        + (
            f" (for at most {format_duration(approval.auto_approve_max_duration)})"
            if approval.auto_approve_max_duration is not None and not approval.auto_approve.empty
            else ""
        ),
        f"duration      default {format_duration(policy.default_duration_of(profile))}, "
        f"max {format_duration(policy.max_duration_of(profile))}, "
        f"with extensions at most {format_duration(policy.max_extended_duration_of(profile))}",
        f"reason        {'required' if profile.reason.required else 'optional'}"
        + (f", matching {escape(profile.reason.pattern.pattern)}" if profile.reason.pattern else ""),
        f"guardrails    {', '.join(profile.guardrails) or 'none'}",
    ]
    if profile.break_glass is not None:
        lines.append(f"break-glass   {_who(profile.break_glass.allowed)} (flagged, reviewed after the fact)")
    _out.print("\n".join(lines))
    if review.rules is None:
        _out.print("\nrules         kept in the cluster: run with --kubeconfig to see and analyze them")
        return
    _out.print("\neffective rules:")
    for index, rule in enumerate(review.rules):
        _out.print(f"  #{index} {escape(str(rule))}")
    table = _findings_table(review)
    _out.print("\nfindings:" if table is not None else "\nfindings: none")
    if table is not None:
        _out.print(table)
    for refusal in review.assessment.refusals if review.assessment else ():
        _out.print(f"[red]refused:[/] {escape(refusal)}")
    _out.print(f"\nstatus: {_status(review)}")


@app.command()
def rbac(
    file: FileArgument,
    namespace: Annotated[str, typer.Option("--namespace", help="Where the broker runs.")] = "kubejit-system",
    service_account: Annotated[str, typer.Option("--service-account", help="The broker's ServiceAccount.")] = (
        "kubejit-broker"
    ),
    bindings: Annotated[
        bool,
        typer.Option(
            "--bindings/--no-bindings",
            help="--no-bindings: for authorizationWebhook.bindings: false, where grants bind nothing; the broker "
            "gets no bind and no create/patch of bindings, only list/delete to remove its leftovers.",
        ),
    ] = True,
) -> None:
    """Print the broker's least-privilege RBAC for FILE's profiles (pipe it to `kubectl apply -f -`)."""
    from kubejit.adapters.kube.install import broker_rbac, render_yaml

    policy = load_policy_file(file)
    manifests = broker_rbac(policy, namespace=namespace, service_account=service_account, bindings=bindings)
    print(render_yaml(manifests), end="")

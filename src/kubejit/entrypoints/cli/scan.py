"""``kubejit scan``: the standing risky access in a cluster, from the cluster itself or a dump of its RBAC.

Every binding is resolved to its subjects, and its role's rules are judged by the risk analysis of ``kubejit
policy check`` (:mod:`kubejit.domain.standing_access`). Kubernetes' own defaults are counted apart
(``--show-defaults`` lists them). ``--suggest FILE|-`` also writes the policy whose profiles would replace
the standing bindings (:mod:`.scan_suggest`); with ``-`` the policy is stdout's and the report is not
printed. Exit codes: 0, or 1 with ``--fail-on SEVERITY`` when a finding of that severity or worse exists; 2
for bad arguments or an unreadable dump; 3 when the cluster cannot be read.
Registered by :mod:`kubejit.entrypoints.cli.main`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from kubejit.adapters.kube.rbac_dump import read_cluster, read_dump
from kubejit.domain.errors import InvalidInput
from kubejit.domain.rbac_risk import Severity
from kubejit.domain.standing_access import (
    BindingDef,
    Grant,
    RbacSnapshot,
    ReachedAccount,
    ScanReport,
    StandingFinding,
    Subject,
    scan,
    suggest_profiles,
)
from kubejit.entrypoints.cli.errors import EXIT_OK, EXIT_REFUSED
from kubejit.entrypoints.cli.output import print_json
from kubejit.entrypoints.cli.scan_suggest import write_suggestion
from kubejit.entrypoints.cli.scan_table import print_table

_FORMATS = ("table", "text", "json")  # text: the name the other commands give their table


def _snapshot(kubeconfig: Path | None, from_file: Path | None) -> RbacSnapshot:
    if kubeconfig is not None and from_file is not None:
        raise InvalidInput("--kubeconfig and --from-file exclude each other: scan a cluster or a dump, not both")
    if from_file is not None:
        return read_dump(from_file)
    if kubeconfig is None:
        raise InvalidInput(
            "say what to scan: --kubeconfig FILE (or $KUBECONFIG) for a cluster, --from-file FILE for a dump"
        )
    return read_cluster(kubeconfig)


def _threshold(fail_on: str | None) -> Severity | None:
    if fail_on is None:
        return None
    try:
        return Severity(fail_on.lower())
    except ValueError:
        choices = ", ".join(severity.value for severity in Severity)
        raise InvalidInput(f"--fail-on {fail_on!r} is not a severity: use one of {choices}") from None


def scan_command(
    kubeconfig: Annotated[
        Path | None,
        typer.Option("--kubeconfig", envvar="KUBECONFIG", help="Scan the cluster this kubeconfig reaches."),
    ] = None,
    from_file: Annotated[
        Path | None,
        typer.Option(
            "--from-file",
            help="Scan a dump: kubectl get clusterroles,roles,clusterrolebindings,rolebindings,pods -A -o json.",
        ),
    ] = None,
    output: Annotated[str, typer.Option("-o", "--output", help="Output format: table or json.")] = "table",
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", help="Exit 1 when a finding this severe or worse exists: critical, high, medium."),
    ] = None,
    show_defaults: Annotated[
        bool, typer.Option("--show-defaults", help="Also list Kubernetes' own default bindings (table output).")
    ] = False,
    suggest: Annotated[
        str | None,
        typer.Option(
            "--suggest",
            metavar="FILE|-",
            help="Write a kubejit policy whose profiles would replace the standing bindings (-: to stdout).",
        ),
    ] = None,
) -> None:
    """List standing risky access: each subject's bindings that open an escalation path, the worst first."""
    if output not in _FORMATS:
        raise InvalidInput(f"-o {output!r} is not supported: use -o table or -o json")
    if suggest is not None and (not suggest or (suggest.startswith("-") and suggest != "-")):
        raise InvalidInput(f"--suggest {suggest!r}: name the file to write the policy to, or - for stdout")
    threshold = _threshold(fail_on)
    report = scan(_snapshot(kubeconfig, from_file))
    if suggest is not None:
        source = str(from_file if from_file is not None else kubeconfig)
        write_suggestion(suggest_profiles(report.findings), suggest, source=source)
    if suggest == "-":
        pass  # the policy is stdout's
    elif output == "json":
        print_json(_report_json(report))
    else:
        print_table(report, show_defaults=show_defaults)
    worst = report.worst()
    failed = threshold is not None and worst is not None and worst.rank >= threshold.rank
    raise typer.Exit(EXIT_REFUSED if failed else EXIT_OK)


# ---- rendering ---------------------------------------------------------------------------------------------------


def _binding_json(binding: BindingDef) -> dict[str, Any]:
    return {
        "kind": str(binding.kind),
        "name": binding.name,
        "namespace": binding.namespace or None,
        "role": {"kind": str(binding.role_ref.kind), "name": binding.role_ref.name},
        "scope": binding.scope,
    }


def _subject_json(subject: Subject) -> dict[str, Any]:
    return {"kind": str(subject.kind), "name": subject.name, "namespace": subject.namespace or None}


def _grant_json(grant: Grant) -> dict[str, Any]:
    return {"subject": _subject_json(grant.subject), "binding": _binding_json(grant.binding)}


def _reached_json(reached: ReachedAccount) -> dict[str, Any]:
    return {
        "serviceAccount": _subject_json(reached.account),
        "through": str(reached.through),
        "binding": _binding_json(reached.binding),
        "runningPodsOnly": reached.running_pods_only,
        "pods": list(reached.pods),
        "gains": [str(risk.id) for risk in reached.gained],
        "accountBinding": _binding_json(reached.account_binding),
    }


def _finding_json(finding: StandingFinding) -> dict[str, Any]:
    return {
        **_grant_json(Grant(finding.subject, finding.binding)),
        "severity": str(finding.severity),
        "risks": [str(risk) for risk in finding.risk_ids],
        "path": finding.path,
        "details": [
            {"id": str(f.id), "severity": str(f.severity), "rule": str(f.rule), "why": f.why} for f in finding.findings
        ],
        "actsAs": [_reached_json(reached) for reached in finding.acts_as] or None,
    }


def _report_json(report: ScanReport) -> dict[str, Any]:
    return {
        "findings": [_finding_json(finding) for finding in report.findings],
        "systemDefaults": {
            "count": len(report.system_defaults),
            "items": list(map(_grant_json, report.system_defaults)),
        },
        "missingRoles": [_binding_json(binding) for binding in report.missing_roles],
    }


def register(app: typer.Typer) -> None:
    app.command("scan")(scan_command)

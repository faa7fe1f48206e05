"""The table of ``kubejit scan`` (``-o table``), written to read in an 80-column terminal.

Findings are grouped by subject (the worst subject first), and each finding is one block: its severity,
then the binding and role, the risk ids, and the path sentence, each wrapped at the terminal's width under a
hanging indent (no trailing blanks, so it copies cleanly). Nothing is cut: long binding and role names and
the risk ids wrap instead (``-o json`` carries every field, for machines). A derived finding (a subject acting as
ServiceAccounts through pods) says which account, how, and how many more. Called by :mod:`.scan`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape

from kubejit.domain.rbac_risk import Severity
from kubejit.domain.standing_access import ScanReport, StandingFinding, Subject

_SEVERITY_STYLE = {Severity.CRITICAL: "bold red", Severity.HIGH: "red", Severity.MEDIUM: "yellow"}


def _where(finding: StandingFinding) -> str:
    binding = finding.binding
    return "every namespace" if binding.cluster_wide else f"namespace {binding.namespace}"


_INDENT = 10  # "critical" and two spaces


def _lines(finding: StandingFinding) -> list[str]:
    """The lines of one finding's block, before wrapping: how it holds it, which risks, and the path."""
    binding = finding.binding
    lines = [f"{binding} -> {finding.role} ({_where(finding)})"]
    if finding.derived:
        head, more = finding.acts_as[0], len(finding.acts_as) - 1
        lines.append(f"acts as {head.account} through {head.through}" + (f" (+{more} more)" if more else ""))
    return [*lines, ", ".join(finding.risk_ids), finding.path]


def _block(finding: StandingFinding, width: int) -> str:
    """One finding as console markup: its severity, then each line wrapped under a hanging indent."""
    severity = finding.severity
    wrapped: list[str] = []
    for line in _lines(finding):
        wrapped += textwrap.wrap(
            line, width=max(width - _INDENT, 20), break_long_words=True, break_on_hyphens=False
        ) or [""]
    label = f"[{_SEVERITY_STYLE[severity]}]{severity}[/]" + " " * (_INDENT - len(severity))
    pad = " " * _INDENT
    return "\n".join((label if n == 0 else pad) + escape(text) for n, text in enumerate(wrapped))


def _by_subject(findings: Iterable[StandingFinding]) -> dict[Subject, list[StandingFinding]]:
    grouped: dict[Subject, list[StandingFinding]] = {}
    for finding in findings:  # the report is worst first, so is each group and the order of the groups
        grouped.setdefault(finding.subject, []).append(finding)
    return grouped


def print_table(report: ScanReport, *, show_defaults: bool) -> None:
    out = Console(highlight=False, soft_wrap=True)  # its width read now: the terminal's, or 80 when not one
    for subject, findings in _by_subject(report.findings).items():
        out.print(f"[bold]{escape(str(subject))}[/]")
        for finding in findings:
            out.print(_block(finding, out.width))
        out.print()
    counts = {severity: sum(f.severity is severity for f in report.findings) for severity in Severity}
    summary = ", ".join(f"{count} {severity}" for severity, count in counts.items() if count) or "none"
    derived = sum(finding.derived for finding in report.findings)
    out.print(f"findings: {len(report.findings)} ({summary})" + (f", {derived} through pods" if derived else ""))
    out.print(
        f"system defaults (not findings): {len(report.system_defaults)}"
        + ("" if show_defaults else " (--show-defaults lists them)")
    )
    if show_defaults:
        for grant in report.system_defaults:
            binding = grant.binding
            out.print(f"  {escape(str(grant.subject))} via {escape(str(binding))} -> {escape(str(binding.role_ref))}")
    for missing in report.missing_roles:
        role = escape(str(missing.role_ref))
        out.print(f"[yellow]missing role:[/] {escape(str(missing))} names {role}, which does not exist")

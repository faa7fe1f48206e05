"""``kubejit profiles``: the access profiles you may request (limits, who approves, guardrails), and
``kubejit profiles rightsize PROFILE``: what a profile grants against what its grants used, with a smaller rule
set to paste into the policy. Registered by :mod:`kubejit.entrypoints.cli.main`.

The list comes from ``GET /api/v1/profiles``, which decides on the server what the caller may request. Rightsize
reads ``GET /api/v1/profiles/{name}/usage`` (the profile's effective rules, its grants in the window and their
gateway activity; auditors and admins only), adds the direct uses found in kube-apiserver audit logs given with
``--audit-log`` (:mod:`kubejit.adapters.kube_audit_log`), and leaves the comparison to
:mod:`kubejit.domain.rightsize`; the rendering of its report is :mod:`kubejit.entrypoints.cli.rightsize_text`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubejit.adapters.kube_audit_log import read_audit_logs
from kubejit.domain.errors import InvalidInput
from kubejit.domain.rightsize import attribute_direct, parse_window, rightsize
from kubejit.entrypoints.cli.broker_options import BrokerOptions, with_broker, with_connection
from kubejit.entrypoints.cli.errors import EXIT_REFUSED
from kubejit.entrypoints.cli.output import print_json
from kubejit.entrypoints.cli.rightsize_text import (
    RightsizeReport,
    check_proposal,
    gateway_use,
    grant_windows,
    print_report,
    report_json,
    rule_of,
    snippet,
)

app = typer.Typer(help="The access profiles you may request, and how much of a profile its grants use.")
_out = Console(highlight=False, soft_wrap=True)
_FORMATS = ("text", "yaml", "json")


# ---- kubejit profiles [list] ------------------------------------------------------------------------------------


def _approval(profile: dict[str, Any]) -> str:
    approval = profile["approval"]
    if not profile["requestable"]:
        return "break-glass only"
    words = f"{approval['required']} of {approval['approvers']}" if approval["approvers"] != "nobody" else ""
    if approval["autoApprovesYou"]:
        cap = approval["autoApproveMaxDuration"]
        auto = "auto-approved for you" + (f" up to {cap}" if cap else "")
        words = f"{auto}; else {words}" if words else auto
    return words or "nobody"


def _where(profile: dict[str, Any]) -> str:
    return "cluster-wide" if profile["scope"] == "cluster" else ", ".join(profile["namespaces"])


def _details(profile: dict[str, Any]) -> list[str]:
    lines = []
    if profile["description"]:
        lines.append(profile["description"])
    lines.append(f"grants {profile['role']}; default {profile['defaultDuration']}, at most {profile['maxDuration']}"
                 f" ({profile['maxExtendedDuration']} with extensions)")  # fmt: skip
    approval = profile["approval"]
    if approval["autoApprove"]:
        cap = approval["autoApproveMaxDuration"]
        lines.append(f"auto-approved: {approval['autoApprove']}" + (f" (up to {cap})" if cap else ""))
    glass = profile["breakGlass"]
    if glass is not None:
        you = " (you may)" if glass["youMay"] else ""
        lines.append(f"break-glass: {glass['allowed']}, up to {glass['maxDuration']}, reviewed afterwards{you}")
    if profile["reasonRequired"]:
        pattern = profile["reasonPattern"]
        lines.append("reason required" + (f", matching {pattern}" if pattern else ""))
    for guardrail in profile["guardrails"]:
        lines.append(
            f"guardrail {guardrail['name']}" + (f": {guardrail['description']}" if guardrail["description"] else "")
        )
    return lines


def _table(profiles: list[dict[str, Any]]) -> None:
    if not profiles:
        _out.print("no profile you may request: ask your platform team")
        return
    table = Table(box=None, pad_edge=False, header_style="dim")
    for column in ("PROFILE", "WHERE", "MAX", "APPROVAL"):
        table.add_column(column, overflow="fold")
    for p in profiles:
        table.add_row(escape(p["name"]), escape(_where(p)), p["maxDuration"], escape(_approval(p)))
    _out.print(table)
    for p in profiles:
        _out.print(f"\n[bold]{escape(p['name'])}[/]")
        for line in _details(p):
            _out.print(f"  {escape(line)}")


def _list(broker: BrokerOptions) -> None:
    broker.emit(broker.call("GET", "/api/v1/profiles"), text=_table)


@with_broker
def list_profiles(ctx: typer.Context, broker: BrokerOptions) -> None:
    """The profiles you may request: where, for how long, who approves (and how many), guardrails."""
    _list(broker.or_else(ctx.obj))


@with_broker
def profiles(ctx: typer.Context, broker: BrokerOptions) -> None:
    """The access profiles you may request (as `kubejit profiles list`), and how much of one its grants use
    (`kubejit profiles rightsize PROFILE`)."""
    if ctx.invoked_subcommand is None:
        _list(broker)
    else:
        ctx.obj = broker  # the connection options given before the subcommand count for it too


app.callback(invoke_without_command=True)(profiles)


app.command("list")(list_profiles)


# ---- kubejit profiles rightsize ----------------------------------------------------------------------------------


@with_connection
def rightsize_command(
    ctx: typer.Context,
    profile: Annotated[
        str, typer.Argument(help="The access profile to compare with its use.", show_default=False, metavar="PROFILE")
    ],
    broker: BrokerOptions,
    since: Annotated[
        str, typer.Option("--since", help="How far back to look: 30d, 7d, 12h.", metavar="WINDOW")
    ] = "30d",
    audit_log: Annotated[
        list[Path] | None,
        typer.Option(
            "--audit-log",
            help="kube-apiserver's audit log (JSON lines), to see direct use; repeat for rotated files.",
            metavar="FILE",
        ),
    ] = None,
    output: Annotated[str, typer.Option("-o", "--output", help="Output format: text, yaml or json.")] = "text",
) -> None:
    """Compare what PROFILE grants with what its grants used, and propose the rules they needed."""
    if output not in _FORMATS:
        raise InvalidInput(f"-o {output!r} is not supported: use -o text, -o yaml or -o json")
    try:
        parse_window(since)  # a bad --since is a usage error here, before anything is sent
    except InvalidInput as error:
        raise InvalidInput(f"--since {error}") from None
    logs = list(audit_log or [])
    for path in logs:
        if not path.is_file():
            raise InvalidInput(f"--audit-log {path}: no such file: give kube-apiserver's --audit-log-path file")
    broker = broker.or_else(ctx.obj)
    usage = broker.call("GET", f"/api/v1/profiles/{quote(profile, safe='')}/usage", params={"since": since})
    report = _compare(usage, logs, window_text=since)
    if output == "json":
        print_json(report_json(report))
    elif output == "yaml":
        if report.result.proposal is None:
            raise InvalidInput(f"no use of {profile} in the last {since}: there is nothing to propose")
        print(snippet(report), end="")
    else:
        print_report(_out, report)
    if report.problems:
        raise typer.Exit(EXIT_REFUSED)


def _compare(usage: dict[str, Any], logs: list[Path], *, window_text: str) -> RightsizeReport:
    grants = grant_windows(usage)
    through_gateway = [gateway_use(u) for u in usage["uses"]]
    since = datetime.fromisoformat(usage["since"])
    direct = [use for _grant, use in attribute_direct(read_audit_logs(logs, since), grants)] if logs else []
    result = rightsize([rule_of(r) for r in usage["rules"]], [*through_gateway, *direct])
    problems = check_proposal(usage, result.proposal) if result.proposal is not None else ()
    return RightsizeReport(usage, window_text, tuple(logs), result, len(through_gateway), len(direct), problems)


app.command("rightsize")(rightsize_command)

"""The people-facing commands: request, list, get, approve, deny, cancel, revoke, extend, audit.

Each is a thin call to the broker's API with human output by default and ``-o json`` for scripts.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kubejit.domain.durations import parse_duration
from kubejit.domain.errors import InvalidInput, Unavailable
from kubejit.entrypoints.cli.audit_text import describe
from kubejit.entrypoints.cli.client import BrokerClient, CaOption, ServerOption, TokenOption
from kubejit.entrypoints.cli.errors import EXIT_OK, EXIT_REFUSED
from kubejit.entrypoints.cli.output import OutputOption, checked, print_json

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)
IdArgument = Annotated[str, typer.Argument(help="The request or grant id (req-...).", show_default=False)]
_ENDED = {"expired", "revoked", "denied", "cancelled", "timed-out"}


def _broker(server: str | None, token: str | None, ca: str | None) -> BrokerClient:
    return BrokerClient.from_options(server, token, ca)


def _when(value: str | None) -> str:
    if not value:
        return "-"
    moment = datetime.fromisoformat(value)
    seconds = (moment - datetime.now(UTC)).total_seconds()
    hint = f"in {int(seconds // 60)}m{int(seconds % 60):02d}s" if seconds > 0 else "ago"
    return f"{moment.astimezone(UTC).strftime('%H:%M:%S')}Z ({hint})" if seconds > 0 else moment.isoformat()


def _show(request: dict[str, Any]) -> None:
    ns = ", ".join(request["namespaces"]) or "all namespaces"
    lines = [
        f"[bold]{request['id']}[/]  {request['state']}"
        + ("  [red]BREAK-GLASS[/]" if request["breakGlass"] else "")
        + ("  (auto-approved)" if request["autoApproved"] else ""),
        f"profile    {escape(request['profile'])} in {escape(ns)} for {request['duration']}",
        f"requester  {escape(request['requester'])}",
        f"reason     {escape(request['reason'])}",
    ]
    if request["reviews"]:
        reviews = ", ".join(f"{r['verdict']} by {r['reviewer']}" for r in request["reviews"])
        lines.append(f"reviews    {escape(reviews)}")
    if request["startsAt"]:
        lines.append(f"active     {request['startsAt']} until {_when(request['endsAt'])}")
    if request["endedAt"]:
        lines.append(f"ended      {request['endedAt']} by {request['endedBy']}: {escape(request['endReason'])}")
    _out.print("\n".join(lines))


def _table(requests: list[dict[str, Any]]) -> None:
    if not requests:
        _out.print("no requests")
        return
    table = Table(box=None, pad_edge=False, header_style="dim")
    for column in ("id", "state", "requester", "profile", "namespaces", "duration", "ends", "reason"):
        table.add_column(column, overflow="fold")
    for r in requests:
        table.add_row(
            escape(r["id"]),
            r["state"],
            escape(r["requester"]),
            escape(r["profile"]),
            ",".join(r["namespaces"]) or "*",
            r["duration"],
            _when(r["endsAt"]) if r["state"] == "active" else "-",
            escape(r["reason"][:60]),
        )
    _out.print(table)


def _emit(result: Any, output: str) -> None:
    if output == "json":
        print_json(result)
    elif isinstance(result, list):
        _table(result)
    else:
        _show(result)


def request(
    profile: Annotated[str, typer.Argument(help="The access profile to request.", show_default=False)],
    namespace: Annotated[
        list[str] | None, typer.Option("-n", "--namespace", help="Namespace (repeat for more).")
    ] = None,
    duration: Annotated[str | None, typer.Option("--for", help="How long, e.g. 30m (default: the profile's).")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why you need it (often an incident or change id).")] = "",
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the access is active (or refused).")] = False,
    break_glass: Annotated[bool, typer.Option("--break-glass", help="Emergency self-activation, if allowed.")] = False,
    server: ServerOption = None,
    token: TokenOption = None,
    ca: CaOption = None,
    output: OutputOption = "text",
) -> None:
    """Ask for time-bound access to PROFILE."""
    checked(output)
    if duration is not None:
        parse_duration(duration)  # a bad --for is a usage error here, before anything is sent
    broker = _broker(server, token, ca)
    body = {
        "profile": profile,
        "namespaces": namespace or [],
        "duration": duration,
        "reason": reason,
        "breakGlass": break_glass,
    }
    created = broker.call("POST", "/api/v1/requests", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    if wait and created["state"] not in _ENDED:
        created = _wait_until_active(broker, created["id"])
    _emit(created, output)
    if created["state"] in _ENDED:
        raise typer.Exit(EXIT_REFUSED)


def _wait_until_active(broker: BrokerClient, request_id: str, timeout: float = 3600.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    announced = False
    while time.monotonic() < deadline:
        current: dict[str, Any] = broker.call("GET", f"/api/v1/requests/{request_id}")
        if current["state"] == "active" or current["state"] in _ENDED:
            return current
        if not announced:
            _err.print(f"{request_id} is {current['state']}: waiting (Ctrl-C stops waiting, not the request)")
            announced = True
        time.sleep(0.25)
    raise Unavailable(f"{request_id} did not become active within {int(timeout)}s")


def list_(
    pending: Annotated[bool, typer.Option("--pending", help="Requests waiting for your review.")] = False,
    mine: Annotated[bool, typer.Option("--mine", help="Only your own requests.")] = False,
    active: Annotated[bool, typer.Option("--active", help="Only active grants.")] = False,
    server: ServerOption = None,
    token: TokenOption = None,
    ca: CaOption = None,
    output: OutputOption = "text",
) -> None:
    """List the requests you can see."""
    checked(output)
    if pending and mine:
        raise InvalidInput("choose --pending (to review) or --mine, not both")
    params: dict[str, Any] = {"mine": mine, "reviewable": pending}
    if active:
        params["state"] = "active"
    _emit(_broker(server, token, ca).call("GET", "/api/v1/requests", params=params), output)


def get(
    request_id: IdArgument,
    server: ServerOption = None,
    token: TokenOption = None,
    ca: CaOption = None,
    output: OutputOption = "text",
) -> None:
    """Show one request or grant."""
    checked(output)
    _emit(_broker(server, token, ca).call("GET", f"/api/v1/requests/{request_id}"), output)


def approve(
    request_id: IdArgument,
    comment: Annotated[str, typer.Option("--comment", help="Why you approve.")] = "",
    server: ServerOption = None,
    token: TokenOption = None,
    ca: CaOption = None,
    output: OutputOption = "text",
) -> None:
    """Approve a request (the requester never counts as an approver)."""
    checked(output)
    _emit(
        _broker(server, token, ca).call("POST", f"/api/v1/requests/{request_id}/approve", json={"comment": comment}),
        output,
    )


def deny(
    request_id: IdArgument,
    comment: Annotated[str, typer.Option("--comment", help="Why (the requester sees it).")] = "",
    server: ServerOption = None,
    token: TokenOption = None,
    ca: CaOption = None,
    output: OutputOption = "text",
) -> None:
    """Deny a request; one denial ends it."""
    checked(output)
    if not comment.strip():
        raise InvalidInput("say why with --comment: the requester sees it")
    _emit(
        _broker(server, token, ca).call("POST", f"/api/v1/requests/{request_id}/deny", json={"comment": comment}),
        output,
    )


def cancel(
    request_id: IdArgument,
    server: ServerOption = None,
    token: TokenOption = None,
    ca: CaOption = None,
    output: OutputOption = "text",
) -> None:
    """Withdraw your request before it is active."""
    checked(output)
    _emit(_broker(server, token, ca).call("POST", f"/api/v1/requests/{request_id}/cancel"), output)


def revoke(
    request_id: IdArgument,
    reason: Annotated[str, typer.Option("--reason", help="Why the access ends early.")] = "",
    server: ServerOption = None,
    token: TokenOption = None,
    ca: CaOption = None,
    output: OutputOption = "text",
) -> None:
    """End a grant now."""
    checked(output)
    _emit(
        _broker(server, token, ca).call("POST", f"/api/v1/requests/{request_id}/revoke", json={"reason": reason}),
        output,
    )


def extend(
    request_id: IdArgument,
    duration: Annotated[str, typer.Option("--for", help="How much longer, e.g. 15m.", show_default=False)],
    reason: Annotated[str, typer.Option("--reason", help="Why more time is needed.")] = "",
    server: ServerOption = None,
    token: TokenOption = None,
    ca: CaOption = None,
    output: OutputOption = "text",
) -> None:
    """Ask for more time on an active grant (approved like the request)."""
    checked(output)
    parse_duration(duration)
    _emit(
        _broker(server, token, ca).call(
            "POST", f"/api/v1/requests/{request_id}/extend", json={"duration": duration, "reason": reason}
        ),
        output,
    )


audit_app = typer.Typer(help="Read and verify the tamper-evident audit trail.", invoke_without_command=True)


@audit_app.callback()
def audit(
    ctx: typer.Context,
    grant: Annotated[str | None, typer.Option("--grant", help="Only events of this request/grant.")] = None,
    user: Annotated[str | None, typer.Option("--user", help="Only events by this user.")] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="From this time (ISO 8601) or this long ago (1h).")
    ] = None,
    server: ServerOption = None,
    token: TokenOption = None,
    ca: CaOption = None,
    output: OutputOption = "text",
) -> None:
    """Show audit events (auditors and admins see all; others their own requests'). -o json gives JSON lines."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = (server, token, ca)
        return
    checked(output)
    params: dict[str, Any] = {"requestId": grant, "user": user, "since": _since(since)}
    events = _broker(server, token, ca).call("GET", "/api/v1/audit", params={k: v for k, v in params.items() if v})
    if output == "json":
        for event in events:
            print(json.dumps(event, sort_keys=True))
        return
    table = Table(box=None, pad_edge=False, header_style="dim")
    for column in ("seq", "at", "kind", "actor", "request", "details"):
        table.add_column(column, overflow="fold")
    for e in events:
        details = describe(e["kind"], e["data"])
        table.add_row(str(e["seq"]), e["at"], e["kind"], e["actor"], e["requestId"], escape(details))
    _out.print(table if events else "no events")


def _since(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return (datetime.now(UTC) - parse_duration(value)).isoformat()
    except InvalidInput:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--since {value!r}: give a time (2026-11-28T12:00:00Z) or a duration (1h)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


@audit_app.command()
def verify(
    ctx: typer.Context,
    server: ServerOption = None,
    token: TokenOption = None,
    ca: CaOption = None,
    output: OutputOption = "text",
) -> None:
    """Check the whole chain and its signed checkpoint; exit 1 if anything was altered."""
    checked(output)
    outer_server, outer_token, outer_ca = ctx.obj or (None, None, None)
    result = _broker(server or outer_server, token or outer_token, ca or outer_ca).call("GET", "/api/v1/audit/verify")
    if output == "json":
        print_json(result)
    elif result["ok"]:
        _out.print(
            f"audit trail intact: {result['events']} events, head {result['headSeq']} {result['headHash'][:16]}..., "
            f"checkpoint at event {result['checkpointSeq']}"
        )
    else:
        _out.print(
            f"[bold red]audit trail altered[/]: {len(result['problems'])} problem(s) in {result['events']} events"
        )
        for problem in result["problems"]:
            _out.print(f"  event {problem['seq']}: {problem['kind']}: {escape(problem['message'])}")
    if not result["ok"]:
        raise typer.Exit(EXIT_REFUSED)
    raise typer.Exit(EXIT_OK)


def register(app: typer.Typer) -> None:
    app.command("request")(request)
    app.command("list")(list_)
    app.command("get")(get)
    app.command("approve")(approve)
    app.command("deny")(deny)
    app.command("cancel")(cancel)
    app.command("revoke")(revoke)
    app.command("extend")(extend)
    app.add_typer(audit_app, name="audit")

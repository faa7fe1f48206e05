"""The people-facing commands: request, list, get, approve, deny, cancel, revoke, extend (``main`` registers them).

Each is a thin call to the broker's API with human output by default and ``-o json`` for scripts; the shared
options come from ``broker_options``.
"""

from __future__ import annotations

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
from kubejit.domain.workflow import ENDED
from kubejit.entrypoints.cli.broker_options import BrokerOptions, with_broker
from kubejit.entrypoints.cli.client import BrokerClient
from kubejit.entrypoints.cli.errors import EXIT_REFUSED

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)
IdArgument = Annotated[str, typer.Argument(help="The request or grant id (req-...).", show_default=False)]


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


def _text(result: Any) -> None:
    """A list of requests as a table, one request in full."""
    if isinstance(result, list):
        _table(result)
    else:
        _show(result)


def _act(broker: BrokerOptions, request_id: str, action: str, body: dict[str, str] | None = None) -> None:
    """POST one action on a request (approve, deny, ...) and print the request as it is afterwards."""
    broker.emit(broker.call("POST", f"/api/v1/requests/{request_id}/{action}", json=body), text=_text)


@with_broker
def request(
    profile: Annotated[str, typer.Argument(help="The access profile to request.", show_default=False)],
    broker: BrokerOptions,
    namespace: Annotated[
        list[str] | None, typer.Option("-n", "--namespace", help="Namespace (repeat for more).")
    ] = None,
    duration: Annotated[str | None, typer.Option("--for", help="How long, e.g. 30m (default: the profile's).")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why you need it (often an incident or change id).")] = "",
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the access is active (or refused).")] = False,
    break_glass: Annotated[bool, typer.Option("--break-glass", help="Emergency self-activation, if allowed.")] = False,
) -> None:
    """Ask for time-bound access to PROFILE."""
    if duration is not None:
        parse_duration(duration)  # a bad --for is a usage error here, before anything is sent
    client = broker.client()
    body = {
        "profile": profile,
        "namespaces": namespace or [],
        "duration": duration,
        "reason": reason,
        "breakGlass": break_glass,
    }
    created = client.call("POST", "/api/v1/requests", json=body, headers={"Idempotency-Key": uuid.uuid4().hex})
    if broker.output == "text":
        for note in created.get("notes") or []:
            _err.print(f"note: {note}")  # e.g. why it was not auto-approved
    if wait and created["state"] not in ENDED:
        created = _wait_until_active(client, created["id"])
    broker.emit(created, text=_text)
    if created["state"] in ENDED:
        raise typer.Exit(EXIT_REFUSED)


def _wait_until_active(client: BrokerClient, request_id: str, timeout: float = 3600.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    announced = False
    while time.monotonic() < deadline:
        current: dict[str, Any] = client.call("GET", f"/api/v1/requests/{request_id}")
        if current["state"] == "active" or current["state"] in ENDED:
            return current
        if not announced:
            _err.print(f"{request_id} is {current['state']}: waiting (Ctrl-C stops waiting, not the request)")
            announced = True
        time.sleep(0.25)
    raise Unavailable(f"{request_id} did not become active within {int(timeout)}s")


@with_broker
def list_(
    broker: BrokerOptions,
    pending: Annotated[bool, typer.Option("--pending", help="Requests waiting for your review.")] = False,
    mine: Annotated[bool, typer.Option("--mine", help="Only your own requests.")] = False,
    active: Annotated[bool, typer.Option("--active", help="Only active grants.")] = False,
) -> None:
    """List the requests you can see."""
    if pending and mine:
        raise InvalidInput("choose --pending (to review) or --mine, not both")
    params: dict[str, Any] = {"mine": mine, "reviewable": pending}
    if active:
        params["state"] = "active"
    broker.emit(broker.call("GET", "/api/v1/requests", params=params), text=_text)


@with_broker
def get(request_id: IdArgument, broker: BrokerOptions) -> None:
    """Show one request or grant."""
    broker.emit(broker.call("GET", f"/api/v1/requests/{request_id}"), text=_text)


@with_broker
def approve(
    request_id: IdArgument,
    broker: BrokerOptions,
    comment: Annotated[str, typer.Option("--comment", help="Why you approve.")] = "",
) -> None:
    """Approve a request (the requester never counts as an approver)."""
    _act(broker, request_id, "approve", {"comment": comment})


@with_broker
def deny(
    request_id: IdArgument,
    broker: BrokerOptions,
    comment: Annotated[str, typer.Option("--comment", help="Why (the requester sees it).")] = "",
) -> None:
    """Deny a request; one denial ends it."""
    if not comment.strip():
        raise InvalidInput("say why with --comment: the requester sees it")
    _act(broker, request_id, "deny", {"comment": comment})


@with_broker
def cancel(request_id: IdArgument, broker: BrokerOptions) -> None:
    """Withdraw your request before it is active."""
    _act(broker, request_id, "cancel")


@with_broker
def revoke(
    request_id: IdArgument,
    broker: BrokerOptions,
    reason: Annotated[str, typer.Option("--reason", help="Why the access ends early.")] = "",
) -> None:
    """End a grant now."""
    _act(broker, request_id, "revoke", {"reason": reason})


@with_broker
def extend(
    request_id: IdArgument,
    duration: Annotated[str, typer.Option("--for", help="How much longer, e.g. 15m.", show_default=False)],
    broker: BrokerOptions,
    reason: Annotated[str, typer.Option("--reason", help="Why more time is needed.")] = "",
) -> None:
    """Ask for more time on an active grant (approved like the request)."""
    parse_duration(duration)
    _act(broker, request_id, "extend", {"duration": duration, "reason": reason})


def register(app: typer.Typer) -> None:
    app.command("request")(request)
    app.command("list")(list_)
    app.command("get")(get)
    app.command("approve")(approve)
    app.command("deny")(deny)
    app.command("cancel")(cancel)
    app.command("revoke")(revoke)
    app.command("extend")(extend)

"""The people-facing commands: request, list, get, approve, deny, cancel, revoke, extend (``main`` registers them).

Each is a thin call to the broker's API with human output by default and ``-o json`` for scripts; the shared
options come from ``broker_options``. What a request waits for (the review column of ``list --pending``, the
``waiting`` lines, which review ``approve`` decides) is read from the answer's ``awaiting`` field, which the broker
builds with :mod:`kubejit.domain.pending_reviews`: the CLI never works it out again.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from kubejit.domain.durations import parse_duration
from kubejit.domain.errors import Conflict, InvalidInput, Unavailable
from kubejit.domain.pending_reviews import PendingReview, ReviewKind, waiting_note
from kubejit.domain.policy import ClaimMatch, Subjects
from kubejit.domain.workflow import ENDED, Verdict
from kubejit.entrypoints.cli.broker_options import BrokerOptions, with_broker
from kubejit.entrypoints.cli.client import BrokerClient
from kubejit.entrypoints.cli.errors import EXIT_REFUSED
from kubejit.entrypoints.cli.output import print_table

_out = Console(highlight=False, soft_wrap=True)
_err = Console(stderr=True, highlight=False, soft_wrap=True)
IdArgument = Annotated[
    str, typer.Argument(help="The request or grant id (req-...), or a unique start of it.", show_default=False)
]


def _when(value: str | None) -> str:
    if not value:
        return "-"
    moment = datetime.fromisoformat(value)
    seconds = (moment - datetime.now(UTC)).total_seconds()
    hint = f"in {int(seconds // 60)}m{int(seconds % 60):02d}s" if seconds > 0 else "ago"
    return f"{moment.astimezone(UTC).strftime('%H:%M:%S')}Z ({hint})" if seconds > 0 else moment.isoformat()


def _show(request: dict[str, Any], *, waiting: bool = True) -> None:
    """One request in full; ``waiting``: with a line for each review it waits for."""
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
    for review in awaiting(request) if waiting else []:
        lines.append(f"waiting    {escape(waiting_note(review))}")
    _out.print("\n".join(lines))


def _table(requests: list[dict[str, Any]], *, reviews: bool = False) -> None:
    """The requests, one line each; with ``reviews`` the review each waits for (``extension +1h``)."""
    if not requests:
        _out.print("nothing waits for your review" if reviews else "no requests")
        return
    headers = ["id", "state", *(["review"] if reviews else []), "requester", "profile", "namespaces", "duration"]
    rows = [
        [
            r["id"],
            r["state"],
            *([", ".join(review.label for review in awaiting(r))] if reviews else []),
            r["requester"],
            r["profile"],
            ",".join(r["namespaces"]) or "*",
            r["duration"],
            _when(r["endsAt"]) if r["state"] == "active" else "-",
            r["reason"][:60],
        ]
        for r in requests
    ]
    print_table([*headers, "ends", "reason"], rows, elastic=("reason", "requester", "profile", "namespaces"))


def awaiting(request: dict[str, Any]) -> list[PendingReview]:
    """What a request (as the API answers it) waits for, read from its ``awaiting`` field: its approval, an
    extension of its grant, or the review after the fact of a break-glass grant."""
    return [_awaited(request["requester"], entry) for entry in request.get("awaiting") or []]


def _awaited(requester: str, entry: dict[str, Any]) -> PendingReview:
    approvers = entry["approvers"]
    return PendingReview(
        ReviewKind(entry["kind"]),
        requester=requester,
        approvers=Subjects(
            users=frozenset(approvers["users"]),
            groups=frozenset(approvers["groups"]),
            claims=tuple(ClaimMatch(tuple(sorted(c.items()))) for c in approvers.get("claims") or []),
        ),
        required=entry["required"],
        approvals=tuple(entry["by"]),
        extra=parse_duration(entry["duration"]) if entry.get("duration") else None,
    )


def _text(result: Any) -> None:
    """A list of requests as a table, one request in full."""
    if isinstance(result, list):
        _table(result)
    else:
        _show(result)


def _act(broker: BrokerOptions, request_id: str, action: str, body: dict[str, str] | None = None) -> None:
    """POST one action on a request (cancel, revoke, ...) and print the request as it is afterwards."""
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
    said_waiting = broker.output == "text" and not wait and created["state"] == "pending"
    if said_waiting:
        for review in awaiting(created):
            _err.print(f"{created['id']}: {waiting_note(review)}")  # who may approve, and how many approvals
    broker.emit(created, text=lambda shown: _show(shown, waiting=not said_waiting))  # said once, not twice
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
    found = broker.call("GET", "/api/v1/requests", params=params)
    broker.emit(found, text=lambda requests: _table(requests, reviews=pending))


@with_broker
def get(request_id: IdArgument, broker: BrokerOptions) -> None:
    """Show one request or grant."""
    broker.emit(broker.call("GET", f"/api/v1/requests/{request_id}"), text=_text)


ReviewOption = Annotated[
    ReviewKind | None,
    typer.Option(
        "--review",
        help="Which review to decide when several wait (default: the one that waits).",
        show_default=False,
    ),
]


@with_broker
def approve(
    request_id: IdArgument,
    broker: BrokerOptions,
    comment: Annotated[str, typer.Option("--comment", help="Why you approve.")] = "",
    review: ReviewOption = None,
) -> None:
    """Approve what a request waits for: the request, an extension of its grant, or a break-glass use (reviewed
    after the fact). The requester never counts as an approver."""
    decide(broker, request_id, Verdict.APPROVE, comment, review)


@with_broker
def deny(
    request_id: IdArgument,
    broker: BrokerOptions,
    comment: Annotated[str, typer.Option("--comment", help="Why (the requester sees it).")] = "",
    review: ReviewOption = None,
) -> None:
    """Deny what a request waits for; one denial ends a request, or refuses an extension."""
    if not comment.strip():
        raise InvalidInput("say why with --comment: the requester sees it")
    decide(broker, request_id, Verdict.DENY, comment, review)


_REVIEW_PATHS = {
    ReviewKind.REQUEST: "{verdict}",
    ReviewKind.EXTENSION: "extension/{verdict}",
    ReviewKind.BREAK_GLASS: "break-glass-review/{verdict}",
}


def decide(broker: BrokerOptions, request_id: str, verdict: Verdict, comment: str, review: ReviewKind | None) -> None:
    """Find the review that waits on ``request_id`` (or take ``review``), decide it, and say where it stands."""
    client = broker.client()
    current: dict[str, Any] = client.call("GET", f"/api/v1/requests/{request_id}")  # also resolves a prefix
    kind = _review_to_decide(current, review)
    if kind is ReviewKind.BREAK_GLASS and not comment.strip():
        raise InvalidInput("say what you found with --comment: a break-glass review is kept with the grant")
    path = _REVIEW_PATHS[kind].format(verdict=verdict.value)
    result = client.call("POST", f"/api/v1/requests/{current['id']}/{path}", json={"comment": comment})
    broker.emit(result, text=lambda decided: _decided(decided, kind, verdict))


def _review_to_decide(request: dict[str, Any], asked: ReviewKind | None) -> ReviewKind:
    waiting = awaiting(request)
    kinds = [review.kind for review in waiting]
    labels = ", ".join(review.label for review in waiting)
    if asked is not None:
        if asked not in kinds and waiting:
            raise Conflict(f"{request['id']} has no {asked} review waiting; it waits for: {labels}")
        return asked  # also when nothing waits: the broker says why the review is not possible
    if not waiting:
        raise Conflict(f"nothing of {request['id']} waits for a review: it is {request['state']}")
    if len(waiting) > 1:
        choices = " or ".join(f"--review {kind}" for kind in kinds)
        raise InvalidInput(f"{request['id']} waits for {len(waiting)} reviews ({labels}): choose one with {choices}")
    return kinds[0]


def _decided(request: dict[str, Any], kind: ReviewKind, verdict: Verdict) -> None:
    """The request after a review, and a line on where it stands now."""
    _show(request)
    _out.print(f"[bold]now[/]        {escape(_standing(request, kind, verdict))}")


def _standing(request: dict[str, Any], kind: ReviewKind, verdict: Verdict) -> str:
    state, rid = request["state"], request["id"]
    if kind is ReviewKind.BREAK_GLASS:
        return f"break-glass use of {rid} reviewed: {verdict}"
    if kind is ReviewKind.EXTENSION:
        extension = (request.get("extensions") or [{}])[-1]
        if extension.get("state") == "pending":
            return f"extension still pending (see waiting); the grant ends {_when(request['endsAt'])}"
        return f"extension {extension.get('state')}: the grant ends {_when(request['endsAt'])}"
    if state == "pending":
        return "still pending: it needs more approvals (see waiting)"
    if state == "approved":
        return f"approved: access starts as soon as kubejit binds it (kubejit get {rid} shows when)"
    if state == "active":
        return f"active until {_when(request['endsAt'])}"
    return f"{state}: {request['requester']} sees your comment"


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
    body = {"duration": duration, "reason": reason}
    broker.emit(broker.call("POST", f"/api/v1/requests/{request_id}/extend", json=body), text=_extension)


def _extension(request: dict[str, Any]) -> None:
    """Where an extension stands: approved at once (the new end), or waiting for whom."""
    extension = (request.get("extensions") or [{}])[-1]
    if extension.get("state") == "approved":
        _out.print(f"{request['id']} extended by {extension['duration']}: it now ends {_when(request['endsAt'])}")
        return
    notes = [waiting_note(r) for r in awaiting(request) if r.kind is ReviewKind.EXTENSION]
    waiting = "; ".join(notes) or f"extension +{extension.get('duration')} waits for approval"
    _out.print(
        f"{request['id']}: not extended yet: {escape(waiting)}. Until then the grant still ends "
        f"{_when(request['endsAt'])}; an approver runs kubejit approve {request['id']}"
    )


def register(app: typer.Typer) -> None:
    app.command("request")(request)
    app.command("list")(list_)
    app.command("get")(get)
    app.command("approve")(approve)
    app.command("deny")(deny)
    app.command("cancel")(cancel)
    app.command("revoke")(revoke)
    app.command("extend")(extend)

"""The people-facing routes: submit, list, show and review access requests, end or extend grants, and get a
gateway token for an active grant. The CLI (``kubejit request|list|get|approve|...``) and the console call them.

Every ``{request_id}`` may also be a unique start of an id (``req-fdf5``): the access service resolves it among
the requests the caller can see. Each request in an answer carries ``awaiting``: the reviews it still waits for,
who may decide them, how many approvals each takes and who gave one (from
:func:`kubejit.domain.pending_reviews.pending_reviews`), which the CLI prints; and ``notes``, the same as prose
(``request waiting for 2 approvals from group leads (or an admin): 1 of 2 so far (bob)``). The answer to a new
request has ``awaiting`` too, but only the note on why it was not auto-approved, if any.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Header, Query

from kubejit.domain.durations import parse_duration
from kubejit.domain.pending_reviews import pending_reviews, waiting_note
from kubejit.domain.workflow import AccessRequest, State, Verdict, auto_approval_note
from kubejit.entrypoints.api.dependencies import BrokerDep, Caller, Feed
from kubejit.entrypoints.api.schemas import CommentIn, ExtendIn, RequestIn, RequestOut, RevokeIn

if TYPE_CHECKING:
    from kubejit.bootstrap import Broker

router = APIRouter(prefix="/api/v1")


def _out(broker: Broker, request: AccessRequest, notes: list[str] | None = None) -> RequestOut:
    """The request on the wire with what it waits for, and ``notes`` (by default, the same as prose)."""
    awaiting = pending_reviews(broker.access.policy(), request)
    out = RequestOut.of(request, awaiting)
    out.notes = [waiting_note(review) for review in awaiting] if notes is None else notes
    return out


@router.get("/whoami")
def whoami(who: Caller) -> dict[str, object]:
    me: dict[str, object] = {"user": who.user, "groups": sorted(who.groups)}
    if who.claims:  # the claims the issuer keeps for policy rules (policyClaims), when it keeps any
        me["claims"] = dict(who.claims)
    return me


@router.post("/requests", status_code=201, response_model=RequestOut)
def create_request(
    body: RequestIn,
    who: Caller,
    broker: BrokerDep,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> RequestOut:
    duration = parse_duration(body.duration) if body.duration else None
    request = broker.access.submit(
        who,
        profile=body.profile,
        namespaces=tuple(body.namespaces),
        duration=duration,
        reason=body.reason,
        break_glass=body.break_glass,
        idempotency_key=idempotency_key,
    )
    broker.metrics.operation("submit", str(request.state))
    note = auto_approval_note(broker.access.policy(), request)  # only this note: scripts read the answer's notes
    return _out(broker, request, notes=[note] if note else [])


@router.get("/requests", response_model=list[RequestOut])
def list_requests(
    who: Caller,
    broker: BrokerDep,
    state: Annotated[list[State] | None, Query()] = None,
    mine: bool = False,
    reviewable: bool = False,
) -> list[RequestOut]:
    found = broker.access.list(who, states=state, mine=mine, reviewable=reviewable)
    return [_out(broker, r) for r in found]


@router.get("/requests/{request_id}", response_model=RequestOut)
def get_request(request_id: str, who: Caller, broker: BrokerDep) -> RequestOut:
    return _out(broker, broker.access.get(who, request_id))


@router.post("/requests/{request_id}/approve", response_model=RequestOut)
def approve(request_id: str, body: CommentIn, who: Caller, broker: BrokerDep) -> RequestOut:
    result = _out(broker, broker.access.approve(who, request_id, body.comment))
    broker.metrics.operation("approve", result.state)
    return result


@router.post("/requests/{request_id}/deny", response_model=RequestOut)
def deny(request_id: str, body: CommentIn, who: Caller, broker: BrokerDep) -> RequestOut:
    return _out(broker, broker.access.deny(who, request_id, body.comment))


@router.post("/requests/{request_id}/cancel", response_model=RequestOut)
def cancel(request_id: str, who: Caller, broker: BrokerDep) -> RequestOut:
    return _out(broker, broker.access.cancel(who, request_id))


@router.post("/requests/{request_id}/revoke", response_model=RequestOut)
def revoke(request_id: str, body: RevokeIn, who: Caller, broker: BrokerDep) -> RequestOut:
    return _out(broker, broker.access.revoke(who, request_id, body.reason))


@router.post("/requests/{request_id}/extend", response_model=RequestOut)
def extend(request_id: str, body: ExtendIn, who: Caller, broker: BrokerDep) -> RequestOut:
    return _out(broker, broker.access.extend(who, request_id, parse_duration(body.duration), body.reason))


@router.post("/requests/{request_id}/extension/{verdict}", response_model=RequestOut)
def review_extension(request_id: str, verdict: Verdict, body: CommentIn, who: Caller, broker: BrokerDep) -> RequestOut:
    return _out(broker, broker.access.review_extension(who, request_id, verdict, body.comment))


@router.post("/requests/{request_id}/break-glass-review/{verdict}", response_model=RequestOut)
def review_break_glass(
    request_id: str, verdict: Verdict, body: CommentIn, who: Caller, broker: BrokerDep
) -> RequestOut:
    return _out(broker, broker.access.review_break_glass(who, request_id, verdict, body.comment))


@router.get("/grants", response_model=list[RequestOut])
def grants(who: Caller, broker: BrokerDep, mine: bool = False) -> list[RequestOut]:
    return [_out(broker, r) for r in broker.access.list(who, states=[State.ACTIVE], mine=mine)]


@router.post("/requests/{request_id}/token")
def grant_token(request_id: str, who: Caller, broker: BrokerDep, feed: Feed) -> dict[str, object]:
    """A short-lived token for using your active grant through the gateway (kubectl's exec plugin)."""
    issued = feed.issue_token(who, broker.access.resolve(who, request_id))
    return {"token": issued.token, "expiresAt": issued.expires_at.isoformat(), "grant": issued.grant_id}

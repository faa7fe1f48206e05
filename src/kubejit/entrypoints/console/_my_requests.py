"""Your requests and one request's page: ``/console/requests`` (pending and active apart from the ended ones) and
``/console/requests/{id}`` (its facts, what it waits for, and the forms to cancel it, revoke or extend the grant,
or review it when that is yours to decide).

Which request you may see and what you may do to it is the access service's decision (``AccessService.get``,
``revoke``, ``extend``, ...), exactly as for ``/api/v1/requests``: the page only offers the forms; a refusal comes
back as a page with the error table's status. Notifications link to the request's page here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from kubejit.domain.durations import parse_duration
from kubejit.domain.errors import InvalidInput
from kubejit.domain.workflow import Verdict
from kubejit.entrypoints.console._views import request_view, split_mine
from kubejit.entrypoints.console._web import PREFIX, ConsoleRoute, Form, Posted, Visitor, render, see_other

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute)
RequestId = Annotated[str, Path(max_length=64, pattern=r"^req-[0-9a-f]{1,32}$")]


@router.get("/requests")
def my_requests(visitor: Visitor) -> Response:
    live, ended = split_mine(visitor.broker.access.list(visitor.who, mine=True))
    return render("my_requests.html", visitor, title="My requests", live=live, ended=ended)


@router.get("/requests/{request_id}")
def request_page(request_id: RequestId, visitor: Visitor) -> Response:
    request = visitor.broker.access.get(visitor.who, request_id)
    view = request_view(visitor.broker, request, visitor.who)
    return render("request_detail.html", visitor, title=f"Request {request.id}", view=view)


def _back(request_id: str, posted: Form) -> Response:
    """Where a form sends the browser afterwards: the page it came from (the inbox, the live page, or the request's
    page)."""
    if posted.get("back") == "inbox":
        return see_other(f"{PREFIX}/inbox?done={request_id}")
    if posted.get("back") == "live":
        return see_other(f"{PREFIX}/live")
    return see_other(f"{PREFIX}/requests/{request_id}")


@router.post("/requests/{request_id}/cancel")
def cancel(request_id: RequestId, posted: Posted) -> Response:
    posted.visitor.broker.access.cancel(posted.visitor.who, request_id)
    return _back(request_id, posted)


@router.post("/requests/{request_id}/revoke")
def revoke(request_id: RequestId, posted: Posted) -> Response:
    posted.visitor.broker.access.revoke(posted.visitor.who, request_id, posted.get("reason"))
    return _back(request_id, posted)


@router.post("/requests/{request_id}/extend")
def extend(request_id: RequestId, posted: Posted) -> Response:
    duration = posted.get("duration")
    if not duration:
        raise InvalidInput("say how much longer the grant should last (e.g. 30m)")
    posted.visitor.broker.access.extend(posted.visitor.who, request_id, parse_duration(duration), posted.get("reason"))
    return _back(request_id, posted)


@router.post("/requests/{request_id}/review")
def review(request_id: RequestId, posted: Posted) -> Response:
    """Approve or deny (``verdict``) the review of kind ``kind``: the request, its extension, or a break-glass use."""
    access, who = posted.visitor.broker.access, posted.visitor.who
    kind, comment = posted.get("kind"), posted.get("comment")
    try:
        verdict = Verdict(posted.get("verdict"))
    except ValueError:
        raise InvalidInput("the verdict must be approve or deny") from None
    if kind == "request":
        if verdict is Verdict.APPROVE:
            decided = access.approve(who, request_id, comment)
        else:
            decided = access.deny(who, request_id, comment)
        posted.visitor.broker.metrics.operation(str(verdict), str(decided.state))
    elif kind == "extension":
        access.review_extension(who, request_id, verdict, comment)
    elif kind == "break-glass":
        access.review_break_glass(who, request_id, verdict, comment)
    else:
        raise InvalidInput("the review kind must be request, extension or break-glass")
    return _back(request_id, posted)

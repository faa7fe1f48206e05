"""The approvals inbox: ``/console/inbox`` lists what waits for your review, and only that.

The list is the access service's ``list(reviewable=True)`` (the same as ``kubejit list --pending``): pending
requests, extensions of active grants and break-glass uses whose profile you review, never your own unless the
profile allows self-approval. Each item shows what the grant would allow (the profile's effective rules and
risks), why it is asked for, and the requester's recent requests that you can see; its approve and deny forms
post to ``/console/requests/{id}/review`` (``_my_requests``), where the access service decides again.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from kubejit.entrypoints.console._views import inbox
from kubejit.entrypoints.console._web import PREFIX, ConsoleRoute, Visitor, render

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute)


@router.get("/inbox")
def inbox_page(visitor: Visitor, done: Annotated[str, Query(max_length=64)] = "") -> Response:
    """What waits for your review (``done``: the request you just reviewed, to say so)."""
    found = inbox(visitor.broker, visitor.who)
    return render("inbox.html", visitor, title="Approvals", inbox=found, done=done)

"""Requesting access: ``/console/request`` lists the profiles you may request, with what each allows (effective
rules), its risks and limits, and a form; ``/console/request/check`` validates that form as you type.

``?profile=X&namespace=Y`` fills the form in: the gateway's and the authorization webhook's refusals link here.
The form is checked on the server, field by field with the policy's own checks (namespaces the profile covers,
its duration limit, its reason rule), then as a whole by the workflow's ``submit`` without storing anything; the
POST itself goes to the access service like ``POST /api/v1/requests``, which decides again. Errors come back
next to their fields (a 400 page without JavaScript; JSON for ``console.js`` as you type).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from kubejit.domain import workflow as wf
from kubejit.domain.durations import parse_duration
from kubejit.domain.errors import InvalidInput, KubejitError
from kubejit.domain.policy import AccessPolicy, Identity, Profile, Scope
from kubejit.entrypoints.console._views import ProfileView, requestable_views
from kubejit.entrypoints.console._web import PREFIX, ConsoleRoute, Posted, SignedIn, Visitor, render, see_other

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute)
_SPLIT = re.compile(r"[\s,]+")


@dataclass
class RequestForm:
    """The request form's values, as typed, and the problems found with them (field name -> message)."""

    profile: str = ""
    namespaces: str = ""
    duration: str = ""
    reason: str = ""
    break_glass: bool = False
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, value: Callable[[str], str]) -> RequestForm:
        """The form from a source of values by field name (a query string, a posted form)."""
        return cls(
            profile=value("profile"),
            namespaces=value("namespaces"),
            duration=value("duration"),
            reason=value("reason"),
            break_glass=value("break_glass") == "on",
        )

    @property
    def namespace_list(self) -> tuple[str, ...]:
        return tuple(n for n in _SPLIT.split(self.namespaces) if n)

    def wanted_duration(self) -> timedelta | None:
        return parse_duration(self.duration) if self.duration else None


def _namespace_problem(profile: Profile, namespaces: tuple[str, ...]) -> str | None:
    if profile.scope is Scope.CLUSTER:
        return f"{profile.name} is cluster-wide: leave the namespaces empty" if namespaces else None
    covered = ", ".join(profile.namespaces)
    if not namespaces:
        return f"name at least one namespace; {profile.name} covers {covered}"
    outside = [n for n in namespaces if not profile.allows_namespace(n)]
    return f"{profile.name} does not cover {', '.join(outside)}; it covers {covered}" if outside else None


def check(policy: AccessPolicy, who: Identity, form: RequestForm, now: datetime) -> RequestForm:
    """``form`` with ``errors`` filled in: each field's first problem, or the workflow's refusal as a whole."""
    errors = form.errors
    profile = policy.profile(form.profile) if form.profile else None
    if profile is None:
        errors["profile"] = "choose a profile you may request"
        return form
    namespace_problem = _namespace_problem(profile, form.namespace_list)
    if namespace_problem is not None:
        errors["namespaces"] = namespace_problem
    try:
        duration = form.wanted_duration()
    except InvalidInput as error:
        errors["duration"] = str(error)
        duration = None
    problem = profile.reason.problem_with(form.reason)
    if problem is not None:
        errors["reason"] = problem
    if not errors:
        try:
            wf.submit(
                policy,
                request_id="req-check",
                profile_name=profile.name,
                requester=who,
                namespaces=form.namespace_list,
                duration=duration,
                reason=form.reason,
                now=now,
                break_glass=form.break_glass,
            )
        except KubejitError as error:
            errors["form"] = str(error)
    return form


def _page(visitor: SignedIn, form: RequestForm, *, status: int = 200, idempotency_key: str = "") -> Response:
    """The page; the form's idempotency key makes a form sent twice (a double click, a retry) one request."""
    profiles: list[ProfileView] = requestable_views(visitor.broker, visitor.who)
    key = idempotency_key or secrets.token_urlsafe(16)
    return render(
        "request.html",
        visitor,
        status=status,
        title="Request access",
        profiles=profiles,
        form=form,
        idempotency_key=key,
    )


@router.get("/request")
def request_page(
    visitor: Visitor,
    profile: Annotated[str, Query(max_length=253)] = "",
    namespace: Annotated[str, Query(max_length=1000)] = "",
) -> Response:
    """The profiles you may request, and the form (filled in from ``?profile=&namespace=``)."""
    return _page(visitor, RequestForm(profile=profile, namespaces=namespace))


@router.get("/request/check")
def check_as_you_type(visitor: Visitor, request: Request) -> JSONResponse:
    """The form's problems as JSON (``{"errors": {field: message}}``): nothing is stored."""
    params = request.query_params
    form = RequestForm.read(lambda name: params.get(name, "")[:2000])
    checked = check(visitor.broker.access.policy(), visitor.who, form, visitor.broker.clock.now())
    return JSONResponse({"errors": checked.errors})


@router.post("/request")
def submit(posted: Posted) -> Response:
    visitor = posted.visitor
    form = RequestForm.read(posted.get)
    check(visitor.broker.access.policy(), visitor.who, form, visitor.broker.clock.now())
    if form.errors:
        return _page(visitor, form, status=400, idempotency_key=posted.get("idempotency_key"))
    created = visitor.broker.access.submit(
        visitor.who,
        profile=form.profile,
        namespaces=form.namespace_list,
        duration=form.wanted_duration(),
        reason=form.reason,
        break_glass=form.break_glass,
        idempotency_key=posted.get("idempotency_key") or None,
    )
    visitor.broker.metrics.operation("submit", str(created.state))
    return see_other(f"{PREFIX}/requests/{created.id}")

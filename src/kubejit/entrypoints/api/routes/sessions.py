"""``GET /api/v1/sessions``: the sessions open through the gateways (exec, attach, port-forward, watch), one each, for
``kubejit sessions`` and scripts. Who sees which is the services' rule (``services/live_sessions``: the grant must
be visible to the caller and so must its events); the console's live page shows the same list.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from kubejit.entrypoints.api.dependencies import BrokerDep, Caller
from kubejit.services.live_sessions import GrantSessions, LiveSessions

router = APIRouter(prefix="/api/v1/sessions")


class SessionOut(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True)

    grant_id: str
    user: str
    profile: str
    grant_state: str
    grant_ends_at: datetime | None
    kind: str
    namespace: str
    pod: str  # a watch's object name ("" for a collection)
    resource: str  # as RBAC names it: pods/exec, pods/attach, pods/portforward, or what a watch watches
    where: str  # for people: namespace/pod, or a watch's namespace/resource[/name]
    command: list[str]
    since: datetime
    gateway: str
    session: str
    standing: str
    why: str


@router.get("", response_model=list[SessionOut])
def sessions(who: Caller, broker: BrokerDep) -> list[SessionOut]:
    """Oldest first; ``standing`` is ``open``, ``closing`` (its grant just ended) or ``unconfirmed`` (its gateway
    has gone silent, or its grant ended and its gateway never recorded the end)."""
    found = LiveSessions(broker.access, broker.audit, broker.clock, broker.store).read(who)
    return [out for group in found for out in _outs(group)]


def _outs(group: GrantSessions) -> list[SessionOut]:
    grant = group.grant
    return [
        SessionOut(
            grant_id=grant.id,
            user=s.start.user,
            profile=grant.profile,
            grant_state=str(grant.state),
            grant_ends_at=grant.ended_at or grant.ends_at,
            kind=s.start.kind,
            namespace=s.start.namespace,
            pod=s.start.pod,
            resource=s.start.resource,
            where=s.start.where,
            command=list(s.start.command),
            since=s.start.at,
            gateway=s.start.gateway,
            session=s.start.session,
            standing=str(s.standing),
            why=s.why,
        )
        for s in group.sessions
    ]

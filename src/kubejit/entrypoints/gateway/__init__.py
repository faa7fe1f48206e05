"""The gateway (``kubejit gateway``): an authenticating Kubernetes API proxy that enforces grants, applies
in-session guardrails, records activity and closes sessions when their grant ends.

This package's public names are the proxy's (``proxy.py``, the connection handler); ``main.py`` runs it on the
parts ``kubejit.bootstrap.build_gateway`` wires (the broker link and kube-apiserver client are adapters, the
open-stream registry and the access check are services). The ``_``-modules are the proxy's parts and are not
imported from outside.
"""

from kubejit.entrypoints.gateway._status import refusal_for, status_body
from kubejit.entrypoints.gateway._upgrade import Emit
from kubejit.entrypoints.gateway.proxy import Authenticate, Gateway, serve
from kubejit.services.gateway_authentication import Identity
from kubejit.services.gateway_sessions import OpenStream, Sessions

__all__ = [
    "Authenticate",
    "Emit",
    "Gateway",
    "Identity",
    "OpenStream",
    "Sessions",
    "refusal_for",
    "serve",
    "status_body",
]

"""The gateway (``kubejit gateway``): an authenticating Kubernetes API proxy that enforces grants, applies
in-session guardrails, records activity and closes sessions when their grant ends.

This package's public names are the proxy's (``proxy.py``, the connection handler); ``main.py`` composes and
runs it, ``broker_link.py`` follows the broker, ``upstream.py`` reaches kube-apiserver. The ``_``-modules are
the proxy's parts and are not imported from outside.
"""

from kubejit.entrypoints.gateway._sessions import OpenStream, Sessions
from kubejit.entrypoints.gateway._status import refusal_for, status_body
from kubejit.entrypoints.gateway._upgrade import Emit
from kubejit.entrypoints.gateway.proxy import Authenticate, Gateway, serve
from kubejit.services.gateway_authentication import Identity

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

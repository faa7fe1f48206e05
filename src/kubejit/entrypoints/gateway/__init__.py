"""The gateway (``kubejit gateway``): an authenticating Kubernetes API proxy that enforces grants, applies
in-session guardrails, records activity and closes sessions when their grant ends.

This package's public names are the proxy's (``proxy.py``, the connection handler); ``main.py`` composes and
runs it, ``broker_link.py`` follows the broker, ``upstream.py`` reaches kube-apiserver. The ``_``-modules are
the proxy's parts and are not imported from outside.
"""

from kubejit.entrypoints.gateway.proxy import (
    Authenticate,
    Emit,
    Gateway,
    Identity,
    OpenStream,
    Sessions,
    refusal_for,
    serve,
    status_body,
)

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

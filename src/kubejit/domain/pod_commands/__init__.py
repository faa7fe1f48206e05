"""The command lines a pod, workload or patch body would run in containers, for the exec guardrail.

Why this exists and who calls it
--------------------------------
``kubectl exec`` is not the only way to run a command in a pod: ``kubectl debug`` adds an ephemeral container
(a patch of ``pods/ephemeralcontainers``), ``kubectl run`` and ``kubectl apply`` create pods and controllers
whose containers' ``command`` and ``args`` are in the request body. The gateway reads the body of exactly those
requests (:func:`writes_pod_commands`) before it decides, and the guardrail evaluation
(``kubejit.domain.guardrails.evaluate``) calls :func:`extract_pod_commands` once, when a grant's guardrail has an
exec rule, and checks each :class:`ContainerRun` with the exec analysis. Pure: no I/O, stdlib only.

What is read: see :mod:`._extract` (body shapes, patch types, limits), :mod:`._containers` (what a container
runs: command + args, ``$(VAR)`` expansion, merging patches) and :mod:`._json_patch`; :mod:`._kinds` lists the
kinds (pods, ephemeral containers, pod templates, replication controllers, deployments, replica sets, stateful
sets, daemon sets, jobs, cron jobs).
"""

from kubejit.domain.pod_commands._containers import MAX_COMMAND_CHARS, ContainerRun, PodCommands
from kubejit.domain.pod_commands._extract import MAX_BODY_BYTES, RequestBody, extract_pod_commands
from kubejit.domain.pod_commands._kinds import writes_pod_commands

__all__ = [
    "MAX_BODY_BYTES",
    "MAX_COMMAND_CHARS",
    "ContainerRun",
    "PodCommands",
    "RequestBody",
    "extract_pod_commands",
    "writes_pod_commands",
]

"""Which requests write container command lines, and where the pod spec sits in each kind's body.

Why this exists: the gateway reads a request's body before deciding only when it may set what a container runs
(create, update or patch of pods and of the controllers that make pods, and ``pods/ephemeralcontainers``, which
is how ``kubectl debug`` adds a container). Every other request keeps its fast path: :func:`writes_pod_commands`
is a set lookup, called by the gateway for each request. The extraction (:mod:`._extract`) asks
:func:`pod_spec_path` where to look. Custom resources whose controllers make pods (Argo Rollouts, Knative, ...)
are not known here: the security model says so.
"""

from __future__ import annotations

from kubejit.domain.requestinfo import RequestAttributes

WRITE_VERBS = frozenset({"create", "update", "patch"})
EPHEMERAL = "ephemeralcontainers"

_POD = ("spec",)
_TEMPLATE = ("spec", "template", "spec")
_JOB_TEMPLATE = ("spec", "jobTemplate", "spec", "template", "spec")

# (API group, resource[/subresource]) -> the path of the pod spec inside the object. Versions do not matter: every
# served version of these kinds keeps the pod spec at the same place.
_POD_SPEC_PATHS: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "pods"): _POD,
    ("", f"pods/{EPHEMERAL}"): _POD,
    ("", "replicationcontrollers"): _TEMPLATE,
    ("", "podtemplates"): ("template", "spec"),
    ("batch", "jobs"): _TEMPLATE,
    ("batch", "cronjobs"): _JOB_TEMPLATE,
    **{(group, kind): _TEMPLATE for group in ("apps", "extensions") for kind in ("deployments", "replicasets")},
    ("apps", "statefulsets"): _TEMPLATE,
    ("apps", "daemonsets"): _TEMPLATE,
    ("extensions", "daemonsets"): _TEMPLATE,
}

# The lists of containers in a pod spec; the kubelet starts init containers first, then the others.
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def pod_spec_path(attrs: RequestAttributes) -> tuple[str, ...] | None:
    """Where the pod spec is in the body of this request, or None when the request cannot set one."""
    if attrs.verb not in WRITE_VERBS or not attrs.is_resource_request:
        return None
    return _POD_SPEC_PATHS.get((attrs.api_group, attrs.resource_path))


def writes_pod_commands(attrs: RequestAttributes) -> bool:
    """Whether the request's body may set the command line of a container (so the body must be checked)."""
    return pod_spec_path(attrs) is not None


def adds_ephemeral_containers(attrs: RequestAttributes) -> bool:
    """A write of ``pods/ephemeralcontainers``: the ephemeral containers in its body are new ones (kube-apiserver
    refuses to change or remove an existing one), so each entry is a whole container even in a merging patch."""
    return attrs.resource == "pods" and attrs.subresource == EPHEMERAL

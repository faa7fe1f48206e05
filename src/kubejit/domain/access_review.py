"""kube-apiserver's question to an authorization webhook (a SubjectAccessReview, authorization.k8s.io/v1), read
into kubejit's own terms, and the answer sent back.

kube-apiserver posts one review per request of a user the AuthorizationConfiguration's matchConditions send to
kubejit: who asks (``spec.user``, ``spec.groups``) and what (``spec.resourceAttributes`` or
``spec.nonResourceAttributes``). :func:`parse_review` turns it into :class:`~kubejit.domain.requestinfo
.RequestAttributes`, the same attributes the gateway derives from a URL, so that one access check
(``services.gateway_access``) serves both; a body that is not such a review raises
:class:`~kubejit.domain.errors.InvalidInput` naming the field (the broker answers 400, which kube-apiserver
treats as a failed call: its failurePolicy decides, never "allowed"). :func:`review_answer` writes the status.
Called by :mod:`kubejit.services.authorization_webhook`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubejit.domain.errors import InvalidInput
from kubejit.domain.requestinfo import RequestAttributes

API_VERSION = "authorization.k8s.io/v1"
KIND = "SubjectAccessReview"
_RESOURCE_FIELDS = ("namespace", "verb", "group", "version", "resource", "subresource", "name")


@dataclass(frozen=True)
class AccessReview:
    """One question: may ``user`` (in ``groups``, as the cluster names them) do ``attrs``?"""

    user: str
    groups: frozenset[str]
    attrs: RequestAttributes


def parse_review(body: object) -> AccessReview:
    """The review in ``body`` (the decoded JSON kube-apiserver sent), or InvalidInput saying what is wrong."""
    if not isinstance(body, Mapping):
        raise InvalidInput("the body must be a SubjectAccessReview object (authorization.k8s.io/v1)")
    if body.get("apiVersion") != API_VERSION or body.get("kind") != KIND:
        raise InvalidInput(
            f"apiVersion/kind: expected {API_VERSION} {KIND}, got {body.get('apiVersion')!r} {body.get('kind')!r}: "
            "set subjectAccessReviewVersion: v1 in kube-apiserver's AuthorizationConfiguration"
        )
    spec = _object(body, "spec", "spec")
    user = _string(spec, "user", "spec.user")
    if not user:
        raise InvalidInput("spec.user: a review must name its user")
    groups = spec.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
        raise InvalidInput("spec.groups: must be a list of strings")
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if (resource is None) == (non_resource is None):
        raise InvalidInput("spec: a review has exactly one of resourceAttributes and nonResourceAttributes")
    if resource is not None:
        attrs = _resource_attributes(_object(spec, "resourceAttributes", "spec.resourceAttributes"))
    else:
        attrs = _non_resource_attributes(_object(spec, "nonResourceAttributes", "spec.nonResourceAttributes"))
    return AccessReview(user, frozenset(groups), attrs)


def review_answer(body: Mapping[str, Any], *, allowed: bool, denied: bool = False, reason: str = "") -> dict[str, Any]:
    """The review sent back with its status: ``allowed``; ``denied`` (stops kube-apiserver's chain: no later
    authorizer may allow it); neither (no opinion: the next authorizer, RBAC, decides)."""
    if allowed and denied:
        raise ValueError("a review cannot be both allowed and denied")
    status: dict[str, Any] = {"allowed": allowed}
    if denied:
        status["denied"] = True
    if reason:
        status["reason"] = reason
    answer = {"apiVersion": API_VERSION, "kind": KIND, "status": status}
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping) and metadata:
        answer["metadata"] = dict(metadata)
    return answer


def _object(parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = parent.get(key)
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where}: must be an object")
    return value


def _string(parent: Mapping[str, Any], key: str, where: str) -> str:
    value = parent.get(key, "")
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: must be a string")
    return value


def _resource_attributes(spec: Mapping[str, Any]) -> RequestAttributes:
    where = "spec.resourceAttributes"
    values = {key: _string(spec, key, f"{where}.{key}") for key in _RESOURCE_FIELDS}
    if not values["verb"] or not values["resource"]:
        raise InvalidInput(f"{where}: verb and resource are required")
    group, version, namespace = values["group"], values["version"], values["namespace"]
    prefix = "apis" if group else "api"
    segments = (prefix, group, version, "namespaces" if namespace else "", namespace, values["resource"])
    path = "/" + "/".join(s for s in (*segments, values["name"], values["subresource"]) if s)
    return RequestAttributes(
        path=path,
        verb=values["verb"],
        is_resource_request=True,
        api_prefix=prefix,
        api_group=group,
        api_version=version,
        namespace=namespace,
        resource=values["resource"],
        subresource=values["subresource"],
        name=values["name"],
        parts=tuple(p for p in (values["resource"], values["name"], values["subresource"]) if p),
        field_selector=_raw_selector(spec, "fieldSelector", where),
        label_selector=_raw_selector(spec, "labelSelector", where),
    )


def _raw_selector(spec: Mapping[str, Any], key: str, where: str) -> str:
    """A selector's raw form (v1 sends ``{rawSelector, requirements}``); "" when absent."""
    selector = spec.get(key)
    if selector is None:
        return ""
    if not isinstance(selector, Mapping):
        raise InvalidInput(f"{where}.{key}: must be an object")
    return _string(selector, "rawSelector", f"{where}.{key}.rawSelector")


def _non_resource_attributes(spec: Mapping[str, Any]) -> RequestAttributes:
    where = "spec.nonResourceAttributes"
    path, verb = _string(spec, "path", f"{where}.path"), _string(spec, "verb", f"{where}.verb")
    if not path.startswith("/") or not verb:
        raise InvalidInput(f"{where}: path (starting with /) and verb are required")
    return RequestAttributes(path=path, verb=verb, is_resource_request=False)

"""The RBAC objects ``kubejit scan`` reads, from a live cluster (lightkube, read-only) or from a dump file.

A dump is what ``kubectl get clusterroles,roles,clusterrolebindings,rolebindings,pods -A -o json`` (or ``-o
yaml``) prints: a ``List`` of objects; a single ``...List``, a YAML stream of objects or a JSON/YAML array work
too. Objects of other kinds are skipped. Pods are optional: with them, exec and attach reach the ServiceAccounts
of the pods that run; without any (a dump without pods, or a cluster that refuses to list them), any pod's.
Both sources become the same plain values (:class:`kubejit.domain.standing_access.RbacSnapshot`) through one
converter, so the file and the cluster read alike. A malformed object is refused with its position and name,
never skipped. Called by ``kubejit scan`` and the scan benchmark.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx2
import yaml
from lightkube import ApiError, Client
from lightkube.resources.core_v1 import Pod
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding, Role, RoleBinding

from kubejit.adapters.kube.client import make_client
from kubejit.domain.errors import InvalidInput, Unavailable
from kubejit.domain.rbac import PolicyRule
from kubejit.domain.standing_access import (
    BindingDef,
    BindingKind,
    ClusterRoleDef,
    LabelSelector,
    PodDef,
    RbacSnapshot,
    RoleDef,
    RoleKind,
    RoleRef,
    SelectorRequirement,
    Subject,
    SubjectKind,
)

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it
_KINDS = ("ClusterRole", "Role", "ClusterRoleBinding", "RoleBinding", "Pod")


class _Malformed(Exception):
    """One field of one object is not what Kubernetes would have stored; the caller says which object."""


def _field(document: Mapping[str, Any], key: str, kind: type, default: Any = None, *, at: str = "") -> Any:
    """``document[key]`` of type ``kind``; ``default`` when absent (None: required). ``at`` prefixes the path."""
    value = document.get(key, default)
    if value is None:
        if default is None:
            raise _Malformed(f"{at}{key} is missing")
        return default
    if not isinstance(value, kind):
        raise _Malformed(f"{at}{key} must be a {kind.__name__}, not {type(value).__name__}")
    return value


def _strings(document: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = _field(document, key, list, [])
    if not all(isinstance(value, str) for value in values):
        raise _Malformed(f"{key} must be a list of strings")
    return tuple(values)


def _rule(document: Any) -> PolicyRule:
    if not isinstance(document, Mapping):
        raise _Malformed("a rule must be a mapping")
    return PolicyRule(
        verbs=_strings(document, "verbs"),
        api_groups=_strings(document, "apiGroups"),
        resources=_strings(document, "resources"),
        resource_names=_strings(document, "resourceNames"),
        non_resource_urls=_strings(document, "nonResourceURLs"),
    )


def _rules(document: Mapping[str, Any]) -> tuple[PolicyRule, ...]:
    return tuple(_rule(rule) for rule in _field(document, "rules", list, []))


def _labels(metadata: Mapping[str, Any]) -> dict[str, str]:
    return {str(key): str(value) for key, value in _field(metadata, "labels", dict, {}).items()}


def label_selector(document: Any) -> LabelSelector:
    """A label selector as Kubernetes serialises it (``matchLabels``, ``matchExpressions``), as a domain value."""
    if not isinstance(document, Mapping):
        raise _Malformed("a clusterRoleSelector must be a mapping")
    expressions = tuple(
        SelectorRequirement(str(e.get("key", "")), str(e.get("operator", "")), tuple(map(str, e.get("values") or ())))
        for e in _field(document, "matchExpressions", list, [])
    )
    pairs = tuple((str(k), str(v)) for k, v in _field(document, "matchLabels", dict, {}).items())
    return LabelSelector(pairs, expressions)


def _subject(document: Any) -> Subject:
    if not isinstance(document, Mapping):
        raise _Malformed("a subject must be a mapping")
    kind = _field(document, "kind", str)
    if kind not in set(SubjectKind):
        raise _Malformed(f"subject kind {kind!r} is not User, Group or ServiceAccount")
    return Subject(SubjectKind(kind), _field(document, "name", str), _field(document, "namespace", str, ""))


def _binding(kind: BindingKind, name: str, namespace: str, labels: dict[str, str], document: Any) -> BindingDef:
    ref = _field(document, "roleRef", dict)
    ref_kind = _field(ref, "kind", str, at="roleRef.")
    if ref_kind not in set(RoleKind):
        raise _Malformed(f"roleRef.kind {ref_kind!r} is not ClusterRole or Role")
    subjects = tuple(_subject(subject) for subject in _field(document, "subjects", list, []))
    role_ref = RoleRef(RoleKind(ref_kind), _field(ref, "name", str, at="roleRef."))
    return BindingDef(kind, name, role_ref, subjects, namespace, labels)


def _add(snapshot: dict[str, list[Any]], document: Mapping[str, Any]) -> None:
    """Convert one object of one of the four kinds into its value, appended to its list."""
    kind = document["kind"]
    metadata = _field(document, "metadata", dict)
    name = _field(metadata, "name", str, at="metadata.")
    labels = _labels(metadata)
    namespace = "" if kind.startswith("Cluster") else _field(metadata, "namespace", str, at="metadata.")
    if kind == "Pod":
        spec = _field(document, "spec", dict, {})
        account = _field(spec, "serviceAccountName", str, "", at="spec.") or "default"
        snapshot[kind].append(PodDef(namespace, name, account))
    elif kind == "ClusterRole":
        aggregation = _field(document, "aggregationRule", dict, {})
        selectors = tuple(label_selector(s) for s in _field(aggregation, "clusterRoleSelectors", list, []))
        snapshot[kind].append(ClusterRoleDef(name, _rules(document), labels, selectors))
    elif kind == "Role":
        snapshot[kind].append(RoleDef(namespace, name, _rules(document), labels))
    else:
        snapshot[kind].append(_binding(BindingKind(kind), name, namespace, labels, document))


def snapshot_of(objects: Iterable[Any], *, source: str) -> RbacSnapshot:
    """The four lists from ``objects`` (dicts as the API serves them); other kinds are skipped. Raises
    ``InvalidInput`` naming ``source``, the object's position and name for an object that is malformed."""
    lists: dict[str, list[Any]] = {kind: [] for kind in _KINDS}
    for index, document in enumerate(objects):
        if not isinstance(document, Mapping):
            raise InvalidInput(f"{source}: item {index} is not an object (a mapping with kind and metadata)")
        if document.get("kind") not in _KINDS:
            continue
        try:
            _add(lists, document)
        except _Malformed as error:
            name = (document.get("metadata") or {}).get("name", "?")
            raise InvalidInput(f"{source}: item {index} ({document['kind']} {name}): {error}") from None
    return RbacSnapshot(
        tuple(lists["ClusterRole"]),
        tuple(lists["Role"]),
        tuple(lists["ClusterRoleBinding"]),
        tuple(lists["RoleBinding"]),
        tuple(lists["Pod"]) if lists["Pod"] else None,  # no pod at all: pods were not read (or none run)
    )


def _items(document: Any) -> Iterator[Any]:
    """The objects of one parsed document: a List's items, an array's elements, or the object itself."""
    if isinstance(document, list):
        yield from document
    elif isinstance(document, Mapping) and isinstance(document.get("items"), list):
        list_kind = str(document.get("kind", ""))
        item_kind = list_kind.removesuffix("List") if list_kind.endswith("List") and list_kind != "List" else None
        for item in document["items"]:
            yield {"kind": item_kind, **item} if item_kind and isinstance(item, Mapping) else item
    elif document is not None:
        yield document


def parse_dump(text: str, *, source: str) -> RbacSnapshot:
    """A snapshot from the text of a dump (JSON, or YAML with one or more documents)."""
    try:
        documents: list[Any] = [json.loads(text)] if text.lstrip()[:1] in ("{", "[") else []
    except json.JSONDecodeError:
        documents = []
    if not documents:
        try:
            documents = list(yaml.load_all(text, Loader=_LOADER))
        except yaml.YAMLError as error:
            raise InvalidInput(f"{source} is neither JSON nor YAML: {error}") from error
    objects = [item for document in documents for item in _items(document)]
    if not objects:
        raise InvalidInput(f"{source} holds no objects: expected the output of {dump_command()}")
    return snapshot_of(objects, source=source)


def dump_command() -> str:
    return "kubectl get clusterroles,roles,clusterrolebindings,rolebindings,pods -A -o json"


def read_dump(path: Path) -> RbacSnapshot:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read the dump {path}: {error}; write one with {dump_command()} > FILE") from error
    return parse_dump(text, source=str(path))


def read_cluster(kubeconfig: Path) -> RbacSnapshot:
    """The four lists from the cluster ``kubeconfig`` reaches (needs list on the four RBAC kinds; pods are
    read too where it may list them)."""
    return read_with(make_client(kubeconfig), source=str(kubeconfig))


def _pods(client: Client) -> list[dict[str, Any]]:
    """Each pod's name, namespace and ServiceAccount; none when the caller may not list pods (then exec and
    attach are taken to reach any pod's ServiceAccount)."""
    try:
        return [
            {
                "kind": "Pod",
                "metadata": {"name": pod.metadata.name, "namespace": pod.metadata.namespace},
                "spec": {"serviceAccountName": pod.spec.serviceAccountName if pod.spec else None},
            }
            for pod in client.list(Pod, namespace="*", chunk_size=500)
            if pod.metadata is not None
        ]
    except ApiError as error:
        if error.status.code == 403:
            return []
        raise


def read_with(client: Client, *, source: str) -> RbacSnapshot:
    objects: list[dict[str, Any]] = []
    try:
        listed: list[tuple[str, Iterable[Any]]] = [
            ("ClusterRole", client.list(ClusterRole, chunk_size=500)),
            ("Role", client.list(Role, namespace="*", chunk_size=500)),
            ("ClusterRoleBinding", client.list(ClusterRoleBinding, chunk_size=500)),
            ("RoleBinding", client.list(RoleBinding, namespace="*", chunk_size=500)),
        ]
        for kind, items in listed:  # the lists are lazy: each is read here, page by page
            objects.extend({**item.to_dict(), "kind": kind} for item in items)
        objects.extend(_pods(client))
    except ApiError as error:
        raise Unavailable(f"listing RBAC objects with {source} failed: {error.status.message}") from error
    except httpx2.HTTPError as error:
        raise Unavailable(f"cannot reach the cluster of {source}: {error}") from error
    return snapshot_of(objects, source=source)

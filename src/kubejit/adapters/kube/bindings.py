"""RBAC mode: a grant becomes RoleBindings (or one ClusterRoleBinding) for the requester, and goes away again.

Implements :class:`kubejit.ports.Cluster` with lightkube. The broker calls :meth:`RbacBindings.bind` when a
grant starts, :meth:`~RbacBindings.set_end` after an extension, :meth:`~RbacBindings.unbind` at expiry or
revocation, and the reconciler sweeps :meth:`~RbacBindings.managed_bindings` so that nothing outlives its
grant even if the broker crashed in between.

Every binding carries labels (``app.kubernetes.io/managed-by: kubejit``, ``kubejit.io/grant-id``) and
annotations (end time, requester, profile, reason), and a name derived from the grant id, so repeating a call
is harmless and a half-done call is undone. The broker runs with the least-privilege RBAC of
:mod:`kubejit.adapters.kube.install`; Kubernetes' own escalation check refuses any role outside the policy.

Also home of the helper the other Kubernetes adapters share to turn API errors into
:mod:`kubejit.domain.errors` (:func:`kube_errors`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
from lightkube import ALL_NS, ApiError, Client
from lightkube.core.client import LabelSelector
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.models.rbac_v1 import RoleRef, Subject
from lightkube.resources.rbac_authorization_v1 import ClusterRole, ClusterRoleBinding, Role, RoleBinding
from lightkube.types import PatchType

from kubejit.adapters.kube.client import make_client
from kubejit.adapters.kube.install import (
    DEFAULT_INSTANCE,
    GRANT_ID_LABEL,
    INSTANCE_LABEL,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PROFILE_LABEL,
    RBAC_GROUP,
    inline_role_name,
)
from kubejit.domain.errors import Conflict, InvalidInput, KubejitError, NotFound, Refused, Unavailable
from kubejit.domain.policy import IdentityMapping, Profile, RoleKind, Scope
from kubejit.domain.workflow import AccessRequest
from kubejit.ports import BindingRef

ENDS_AT_ANNOTATION = "kubejit.io/ends-at"
REQUESTER_ANNOTATION = "kubejit.io/requester"
PROFILE_ANNOTATION = "kubejit.io/profile"
REASON_ANNOTATION = "kubejit.io/reason"
REASON_LIMIT = 256
BINDING_PREFIX = "kubejit-"

# `req-<hex>`: the name `kubejit-<id>` is then a valid object name and the id a valid label value (<= 63).
_GRANT_ID = re.compile(r"req-[0-9a-f]{4,59}")
_MESSAGE_LIMIT = 800


# ---- shared by the Kubernetes adapters -------------------------------------------------------------------------


def _short(message: str) -> str:
    return message if len(message) <= _MESSAGE_LIMIT else message[: _MESSAGE_LIMIT - 1] + "…"


def translate_api_error(error: ApiError, action: str) -> KubejitError:
    """The kubejit error for a Kubernetes API error met while trying to ``action``."""
    code = error.status.code
    message = _short(error.status.message or str(error))
    if code == 403:
        return Refused(f"the Kubernetes API refused to {action}: {message}")
    if code == 404:
        return NotFound(f"cannot {action}: {message}")
    if code == 409:
        return Conflict(f"cannot {action}: {message}")
    if code in (400, 422):
        return InvalidInput(f"the Kubernetes API rejected the request to {action}: {message}")
    if code == 401:
        return Unavailable(f"the Kubernetes API did not accept kubejit's credentials (to {action}): {message}")
    return Unavailable(f"the Kubernetes API failed to {action} ({code}): {message}")


@contextmanager
def kube_errors(action: str) -> Iterator[None]:
    """Turn lightkube/httpx2 errors inside the block into kubejit errors naming ``action``."""
    try:
        yield
    except ApiError as error:
        raise translate_api_error(error, action) from error
    except httpx2.HTTPError as error:
        raise Unavailable(f"cannot reach the Kubernetes API to {action}: {error}") from error


def format_time(at: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; fractions of a second only when there are any."""
    if at.tzinfo is None:
        raise InvalidInput("times written to the cluster must be timezone-aware")
    utc = at.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if utc.microsecond else "%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str | None) -> datetime | None:
    """The time in an RFC 3339 annotation, or None when it is missing, garbled or has no time zone."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return parsed.astimezone(UTC) if parsed.tzinfo is not None else None


# ---- names -----------------------------------------------------------------------------------------------------


def check_grant_id(grant_id: str) -> str:
    """Refuse anything but ``req-<hex>``: the id becomes an object name and a label selector value."""
    if not isinstance(grant_id, str) or not _GRANT_ID.fullmatch(grant_id):
        raise InvalidInput(f"{grant_id!r} is not a grant id (expected req-<lower-case hex>, at most 63 characters)")
    return grant_id


def binding_name(grant_id: str) -> str:
    """The deterministic name of every binding of a grant: ``kubejit-<grant id>``."""
    return BINDING_PREFIX + check_grant_id(grant_id)


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class _Target:
    """What one grant's bindings refer to and whom they name."""

    role_kind: str
    role_name: str
    user: str

    def role_ref(self) -> RoleRef:
        return RoleRef(apiGroup=RBAC_GROUP, kind=self.role_kind, name=self.role_name)

    def subjects(self) -> list[Subject]:
        return [Subject(kind="User", name=self.user, apiGroup=RBAC_GROUP)]


AnyBinding = RoleBinding | ClusterRoleBinding


class RbacBindings:
    """:class:`kubejit.ports.Cluster` over RoleBindings and ClusterRoleBindings."""

    def __init__(
        self, client: Client, *, field_manager: str = "kubejit-broker", instance: str = DEFAULT_INSTANCE
    ) -> None:
        self._client = client
        self._field_manager = field_manager
        self._instance = instance

    @classmethod
    def from_kubeconfig(cls, path: Path | None, *, field_manager: str = "kubejit-broker") -> RbacBindings:
        """Use a kubeconfig file, or the in-cluster ServiceAccount when ``path`` is None."""
        return cls(make_client(path, field_manager=field_manager), field_manager=field_manager)

    # ---- Cluster ----------------------------------------------------------------------------------------------

    def bind(
        self, request: AccessRequest, profile: Profile, identity: IdentityMapping, ends_at: datetime
    ) -> list[BindingRef]:
        """Create (or confirm) the grant's bindings; on any failure remove those of this grant and raise."""
        name = binding_name(request.id)
        if request.profile != profile.name:
            raise InvalidInput(f"request {request.id} is for profile {request.profile}, not {profile.name}")
        ends_text = format_time(ends_at)
        ends_at = ends_at.astimezone(UTC)
        namespaces = self._namespaces(request, profile)
        target = self._target(request, profile, identity)
        self._require_role(target, profile, namespaces)

        labels = {
            MANAGED_BY_LABEL: MANAGED_BY,
            INSTANCE_LABEL: self._instance,
            GRANT_ID_LABEL: request.id,
            PROFILE_LABEL: profile.name,
        }
        annotations = {
            ENDS_AT_ANNOTATION: ends_text,
            REQUESTER_ANNOTATION: request.requester.user,
            PROFILE_ANNOTATION: profile.name,
            REASON_ANNOTATION: _truncate(request.reason, REASON_LIMIT),
        }
        made: list[BindingRef] = []
        try:
            for namespace in namespaces:
                meta = ObjectMeta(name=name, namespace=namespace, labels=labels, annotations=annotations)
                binding: AnyBinding
                if namespace is None:
                    binding = ClusterRoleBinding(metadata=meta, roleRef=target.role_ref(), subjects=target.subjects())
                    ref = BindingRef(request.id, "ClusterRoleBinding", name, "", ends_at)
                else:
                    binding = RoleBinding(metadata=meta, roleRef=target.role_ref(), subjects=target.subjects())
                    ref = BindingRef(request.id, "RoleBinding", name, namespace, ends_at)
                self._create_or_confirm(binding, ref, target, ends_text)
                made.append(ref)
        except BaseException:
            self._undo(request.id, made)
            raise
        return made

    def set_end(self, grant_id: str, ends_at: datetime, namespaces: Sequence[str] | None = None) -> None:
        check_grant_id(grant_id)
        patch = {"metadata": {"annotations": {ENDS_AT_ANNOTATION: format_time(ends_at)}}}
        updated = 0
        for ref in self._refs(grant_id, namespaces):
            try:
                with kube_errors(f"record the new end time on {_describe(ref)}"):
                    self._patch(ref, patch)
            except NotFound:
                continue  # deleted meanwhile (revoked or swept): nothing to extend there
            updated += 1
        if not updated:
            raise NotFound(f"grant {grant_id} has no bindings in the cluster to extend")

    def unbind(self, grant_id: str, namespaces: Sequence[str] | None = None) -> list[BindingRef]:
        check_grant_id(grant_id)
        return [ref for ref in self._refs(grant_id, namespaces) if self._delete(ref)]

    def _refs(self, grant_id: str, namespaces: Sequence[str] | None) -> list[BindingRef]:
        """The grant's bindings: by name when its namespaces are known (one call each), else found by label."""
        if namespaces is None:
            return self._grant_bindings(grant_id)
        if namespaces:
            return [BindingRef(grant_id, "RoleBinding", binding_name(grant_id), ns) for ns in namespaces]
        return [BindingRef(grant_id, "ClusterRoleBinding", binding_name(grant_id))]

    def managed_bindings(self) -> list[BindingRef]:
        """Only this installation's (by its instance label): a binding claiming another installation is never
        listed, so never swept. Each one that cannot be kubejit's own work says why in ``problem``."""
        selector: LabelSelector = {MANAGED_BY_LABEL: MANAGED_BY, INSTANCE_LABEL: self._instance}
        listed = self._list(selector, f"list the bindings kubejit instance {self._instance} manages")
        return [replace(ref, problem=_not_ours(ref)) for ref in listed]

    def delete_binding(self, ref: BindingRef) -> bool:
        return self._delete(ref)

    # ---- internals --------------------------------------------------------------------------------------------

    @staticmethod
    def _namespaces(request: AccessRequest, profile: Profile) -> list[str | None]:
        """One entry per binding: a namespace, or None for the one ClusterRoleBinding."""
        if profile.scope is Scope.CLUSTER:
            if request.namespaces:
                raise InvalidInput(f"profile {profile.name} is cluster-wide: request {request.id} names namespaces")
            if profile.role.kind is RoleKind.ROLE:
                raise InvalidInput(f"profile {profile.name}: a Role cannot be bound cluster-wide")
            return [None]
        namespaces = list(dict.fromkeys(request.namespaces))
        if not namespaces:
            raise InvalidInput(f"request {request.id} for namespaced profile {profile.name} names no namespace")
        if profile.role.kind is RoleKind.ROLE:
            others = [n for n in namespaces if n != profile.role.namespace]
            if others:
                raise Refused(
                    f"profile {profile.name} binds {profile.role.describe()}, which exists only in namespace "
                    f"{profile.role.namespace}; request {request.id} also names {', '.join(others)}"
                )
        return list(namespaces)

    @staticmethod
    def _target(request: AccessRequest, profile: Profile, identity: IdentityMapping) -> _Target:
        user = identity.cluster_user(request.requester.user)
        if not user:
            raise InvalidInput(f"request {request.id} has no requester to bind")
        match profile.role.kind:
            case RoleKind.CLUSTER_ROLE:
                return _Target("ClusterRole", profile.role.name, user)
            case RoleKind.ROLE:
                return _Target("Role", profile.role.name, user)
            case RoleKind.INLINE:
                return _Target("ClusterRole", inline_role_name(profile.name), user)
        raise InvalidInput(f"profile {profile.name}: unknown role kind {profile.role.kind!r}")

    def _require_role(self, target: _Target, profile: Profile, namespaces: list[str | None]) -> None:
        """A binding to a role that does not exist is accepted by Kubernetes and grants nothing: refuse it here."""
        where = f"{target.role_kind} {target.role_name}"
        hint = (
            "apply the broker's install manifests (kubejit:profile roles)"
            if profile.role.kind is RoleKind.INLINE
            else "create it or fix the profile"
        )
        try:
            with kube_errors(f"read {where} for profile {profile.name}"):
                if target.role_kind == "ClusterRole":
                    self._client.get(ClusterRole, target.role_name)
                else:
                    for namespace in namespaces:
                        self._client.get(Role, target.role_name, namespace=namespace)
        except NotFound as error:
            raise NotFound(f"{where} (profile {profile.name}) does not exist in the cluster: {hint}") from error

    def _create_or_confirm(self, binding: AnyBinding, ref: BindingRef, target: _Target, ends_text: str) -> None:
        """Create the binding; an existing one counts only if it is this grant's, unchanged (then its end time
        is brought up to date)."""
        action = f"create {_describe(ref)} for grant {ref.grant_id}"
        try:
            with kube_errors(action):
                self._client.create(binding, field_manager=self._field_manager)
        except Refused as error:
            raise Refused(
                f"{error}. The broker may bind only the roles its install RBAC names (bind with resourceNames): "
                f"if {target.role_kind} {target.role_name} belongs in the policy, re-apply the broker's RBAC for it"
            ) from error
        except Conflict:
            existing = self._get(ref)
            if existing is None:  # deleted between our create and our read: try once more
                with kube_errors(action):
                    self._client.create(binding, field_manager=self._field_manager)
                return
            problem = _foreign(existing, ref.grant_id, target)
            if problem:
                raise Conflict(
                    f"{_describe(ref)} already exists and {problem}: it is not this grant's; remove or rename it"
                ) from None
            annotations = (existing.metadata.annotations if existing.metadata else None) or {}
            if annotations.get(ENDS_AT_ANNOTATION) != ends_text:
                with kube_errors(f"record the end time on {_describe(ref)}"):
                    self._patch(ref, {"metadata": {"annotations": {ENDS_AT_ANNOTATION: ends_text}}})

    def _get(self, ref: BindingRef) -> AnyBinding | None:
        try:
            with kube_errors(f"read {_describe(ref)}"):
                if ref.kind == "ClusterRoleBinding":
                    return self._client.get(ClusterRoleBinding, ref.name)
                return self._client.get(RoleBinding, ref.name, namespace=ref.namespace)
        except NotFound:
            return None

    def _grant_bindings(self, grant_id: str) -> list[BindingRef]:
        selector: LabelSelector = {
            MANAGED_BY_LABEL: MANAGED_BY,
            INSTANCE_LABEL: self._instance,
            GRANT_ID_LABEL: grant_id,
        }
        return self._list(selector, f"list the bindings of grant {grant_id}")

    def _list(self, selector: LabelSelector, action: str) -> list[BindingRef]:
        refs: list[BindingRef] = []
        with kube_errors(action):
            for rb in self._client.list(RoleBinding, namespace=ALL_NS, labels=selector):
                refs.append(_ref("RoleBinding", rb))
            for crb in self._client.list(ClusterRoleBinding, labels=selector):
                refs.append(_ref("ClusterRoleBinding", crb))
        return refs

    def _delete(self, ref: BindingRef) -> bool:
        """Delete one binding; False when it was already gone."""
        try:
            with kube_errors(f"delete {_describe(ref)}"):
                if ref.kind == "ClusterRoleBinding":
                    self._client.delete(ClusterRoleBinding, ref.name)
                else:
                    self._client.delete(RoleBinding, ref.name, namespace=ref.namespace)
        except NotFound:
            return False
        return True

    def _patch(self, ref: BindingRef, patch: dict[str, Any]) -> None:
        if ref.kind == "ClusterRoleBinding":
            self._client.patch(
                ClusterRoleBinding, ref.name, patch, patch_type=PatchType.MERGE, field_manager=self._field_manager
            )
        else:
            self._client.patch(
                RoleBinding,
                ref.name,
                patch,
                namespace=ref.namespace,
                patch_type=PatchType.MERGE,
                field_manager=self._field_manager,
            )

    def _undo(self, grant_id: str, made: list[BindingRef]) -> None:
        """Best-effort undo of a failed bind: what this call made, then anything else labelled with the grant
        (a create whose answer was lost). Leftovers carry their end time, so the reconciler's sweep ends them."""
        for ref in made:
            try:
                self._delete(ref)
            except KubejitError:
                continue
        try:
            self.unbind(grant_id)
        except KubejitError:
            return


def _describe(ref: BindingRef) -> str:
    return f"RoleBinding {ref.namespace}/{ref.name}" if ref.kind == "RoleBinding" else f"ClusterRoleBinding {ref.name}"


def _ref(kind: str, binding: AnyBinding) -> BindingRef:
    meta = binding.metadata or ObjectMeta()
    labels = meta.labels or {}
    annotations = meta.annotations or {}
    return BindingRef(
        grant_id=labels.get(GRANT_ID_LABEL, ""),
        kind=kind,
        name=meta.name or "",
        namespace=meta.namespace or "",
        ends_at=parse_time(annotations.get(ENDS_AT_ANNOTATION)),
    )


def _not_ours(ref: BindingRef) -> str:
    """Why a binding labelled as this installation's cannot be one it made for a grant, or "" when it can."""
    if not _GRANT_ID.fullmatch(ref.grant_id):
        shown = ref.grant_id[:70] if ref.grant_id else "(none)"
        return f"its grant id label {shown!r} is not a kubejit grant id"
    if ref.name != BINDING_PREFIX + ref.grant_id:
        return (
            f"its name is not {BINDING_PREFIX + ref.grant_id}, the name kubejit gives grant {ref.grant_id}'s bindings"
        )
    return ""


def _foreign(existing: AnyBinding, grant_id: str, target: _Target) -> str:
    """Why an existing binding of the same name is not this grant's, or "" when it is."""
    labels = (existing.metadata.labels if existing.metadata else None) or {}
    if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
        return "is not managed by kubejit"
    if labels.get(GRANT_ID_LABEL) != grant_id:
        return f"belongs to grant {labels.get(GRANT_ID_LABEL) or '(none)'}"
    ref = existing.roleRef
    if (ref.kind, ref.name) != (target.role_kind, target.role_name):
        return f"binds {ref.kind} {ref.name} instead of {target.role_kind} {target.role_name}"
    subjects = [(s.kind, s.name, s.apiGroup or "", s.namespace or "") for s in existing.subjects or []]
    if subjects != [("User", target.user, RBAC_GROUP, "")]:
        return f"names other subjects than user {target.user} (it was changed by someone else)"
    return ""

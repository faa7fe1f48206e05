"""Which (binding, subject) pairs are Kubernetes' own defaults, reported apart from the findings.

kube-apiserver creates its bootstrap roles and bindings (labelled ``kubernetes.io/bootstrapping=rbac-defaults``,
most named ``system:...``) for its own components; listing them as findings would bury what people granted.
A pair is a default when the binding is one of Kubernetes' own and the subject is a system identity, or when
the subject is a component identity (a ``system:`` user or group) whoever bound it. What is never a default:

- a person, group or ServiceAccount added to a default binding (someone changed the default: a finding);
- the groups that stand for everyone: ``system:authenticated``, ``system:unauthenticated``,
  ``system:serviceaccounts[:NS]`` and the user ``system:anonymous``, bound by anything but a default binding.

Called by :mod:`._scan`.
"""

from __future__ import annotations

from kubejit.domain.standing_access._model import BindingDef, Subject, SubjectKind

BOOTSTRAP_LABEL = ("kubernetes.io/bootstrapping", "rbac-defaults")
SYSTEM_PREFIX = "system:"
_EVERYONE = frozenset({"system:authenticated", "system:unauthenticated", "system:serviceaccounts"})
_SYSTEM_NAMESPACES = frozenset({"kube-system"})


def is_default_binding(binding: BindingDef) -> bool:
    key, value = BOOTSTRAP_LABEL
    return binding.labels.get(key) == value or binding.name.startswith(SYSTEM_PREFIX)


def stands_for_everyone(subject: Subject) -> bool:
    """A group of every (authenticated, anonymous or ServiceAccount) caller, or the anonymous user."""
    if subject.kind is SubjectKind.USER:
        return subject.name == "system:anonymous"
    if subject.kind is SubjectKind.GROUP:
        return subject.name in _EVERYONE or subject.name.startswith("system:serviceaccounts:")
    return False


def _is_system_identity(subject: Subject) -> bool:
    if subject.kind is SubjectKind.SERVICE_ACCOUNT:
        return subject.namespace in _SYSTEM_NAMESPACES
    return subject.name.startswith(SYSTEM_PREFIX)


def is_system_default(binding: BindingDef, subject: Subject) -> bool:
    if not _is_system_identity(subject):
        return False
    if is_default_binding(binding):
        return True
    return subject.kind is not SubjectKind.SERVICE_ACCOUNT and not stands_for_everyone(subject)

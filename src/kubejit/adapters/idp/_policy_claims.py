"""The extra claims of a verified token that policy rules may match (an issuer's ``policyClaims``).

Why it exists: CI platforms say what a workload is in claims of their own (GitHub's ``repository`` and ``ref``,
GitLab's ``project_path``, a Kubernetes ServiceAccount token's ``kubernetes.io`` object), and the policy's
``claims`` rules (:class:`kubejit.domain.policy.ClaimMatch`) name workloads by them. Only the claims the issuer's
configuration lists are kept, so an identity provider contributes only the claims its operator vouches for. A
name with '/' reaches into nested objects (``kubernetes.io/serviceaccount/name``) unless the token has a
top-level claim of exactly that name. Only text is kept: a string as it is, a boolean or a whole number as its
text; a missing claim, or one of any other shape (list, object, null, fraction), is simply absent, so a rule on it
cannot match. ``identity_from`` (``_claims``) calls :func:`policy_claims`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kubejit.domain.policy import Claims

_MAX_VALUE_LENGTH = 1024  # longer values are not identifiers anyone writes a rule for: absent


def policy_claims(claims: Mapping[str, Any], names: Sequence[str]) -> Claims:
    """The listed claims of ``claims`` that hold text, as sorted (name, value) pairs."""
    kept: dict[str, str] = {}
    for name in names:
        value = _as_text(_lookup(claims, name))
        if value is not None:
            kept[name] = value
    return tuple(sorted(kept.items()))


def _lookup(claims: Mapping[str, Any], name: str) -> object:
    if name in claims:
        return claims[name]
    value: object = claims
    for part in name.split("/"):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _as_text(value: object) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        return None
    return text if len(text) <= _MAX_VALUE_LENGTH else None

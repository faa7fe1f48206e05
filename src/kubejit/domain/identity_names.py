"""Which user and group names kubejit accepts from an identity provider, a grant token or a policy file.

Why it exists: a name must mean the same thing to kubejit and to kube-apiserver. The gateway sends the user
and groups upstream as ``Impersonate-User`` / ``Impersonate-Group`` headers, and Go trims spaces and tabs
around header values, so a user ``" alice"`` that kubejit keeps apart from ``alice`` would reach the cluster
as ``alice``. Invisible characters (zero-width spaces, byte order marks, bidi controls) make two names that
look the same differ, in a policy file, an approval prompt or an audit line. And ``system:`` names belong to
Kubernetes itself (``system:masters`` is cluster-admin, ``system:node:*`` and ``system:serviceaccount:*`` are
its own identities): no identity provider may hand them out.

One rule, in one place: the OIDC claims check (``kubejit.adapters.idp``), the gateway's authentication of
both token kinds (``kubejit.services.gateway_authentication``) and the policy loader (``requesters``,
``approvers``, ``autoApprove``, ``breakGlass``, ``admins``, ``auditors`` and the identity prefixes) call the
functions below. Each returns ``None`` for an acceptable name, or what is wrong with it as a phrase that
follows the quoted value ("' alice' starts or ends with whitespace"); the caller quotes the value (it may be
attacker-controlled text) and says what to do.
"""

from __future__ import annotations

import unicodedata

RESERVED_PREFIX = "system:"

# Unicode general categories that print nothing a reader can see or compare: controls, format characters
# (U+200B, U+FEFF, bidi controls, soft hyphen), surrogates, private use, unassigned, line/paragraph separators.
_INVISIBLE_CATEGORIES = {
    "Cc": "a control character",
    "Cf": "an invisible format character",
    "Cs": "a lone surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Zs": "a space other than the plain space",
}


def user_name_problem(name: str) -> str | None:
    """What is wrong with ``name`` as a user name from outside Kubernetes, or None when it is acceptable."""
    return _name_problem(name) or _reserved_problem(name, "user names such as system:admin and system:node:*")


def group_name_problem(name: str) -> str | None:
    """What is wrong with ``name`` as a group name from outside Kubernetes, or None when it is acceptable."""
    return _name_problem(name) or _reserved_problem(name, "groups such as system:masters (cluster-admin)")


def identity_prefix_problem(prefix: str) -> str | None:
    """What is wrong with ``prefix`` as the username or groups prefix kube-apiserver puts before IdP names.

    The empty prefix is fine (IdP names are then checked as they are). A prefix must not reach into
    ``system:`` by itself, nor be a start of ``system:`` that an IdP name could finish (``sys`` + ``tem:masters``).
    """
    if not prefix:
        return None
    if prefix != prefix.lstrip():
        return "starts with whitespace (HTTP headers lose it, so names would differ upstream)"
    folded = _folded(prefix)
    if folded.startswith(RESERVED_PREFIX) or RESERVED_PREFIX.startswith(folded):
        return f"would put identity provider names into Kubernetes' reserved {RESERVED_PREFIX} names"
    return _characters_problem(prefix)


def quoted(value: object, limit: int = 80) -> str:
    """``value`` quoted with Python escapes (``'alice\\u200b'``) and cut short, for a refusal or a log line:
    a name (or a token's header or claim) is someone else's text, and its invisible characters must show."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _name_problem(name: str) -> str | None:
    if not name:
        return "is empty"
    if name != name.strip():
        return "starts or ends with whitespace (HTTP headers lose it, so it would name someone else upstream)"
    return _characters_problem(name)


def _characters_problem(text: str) -> str | None:
    """The first character a reader cannot see or tell apart, if any. The plain space inside a name is fine
    (IdP group names such as "Payments Devs" have them); every other non-printable character is not."""
    for char in text:
        if char == " " or char.isprintable():
            continue
        category = unicodedata.category(char)
        what = _INVISIBLE_CATEGORIES.get(category, "a character that does not print")
        label = unicodedata.name(char, "")
        shown = f"U+{ord(char):04X}" + (f" {label}" if label else "")
        return f"contains {what} ({shown})"
    return None


def _reserved_problem(name: str, examples: str) -> str | None:
    if _folded(name).startswith(RESERVED_PREFIX):
        return f"is in the {RESERVED_PREFIX} namespace that Kubernetes keeps for its own {examples}"
    return None


def _folded(text: str) -> str:
    """Compatibility-normalised and case-folded: ``SYSTEM:``, a long s (U+017F) for the s and a full-width
    colon all count."""
    return unicodedata.normalize("NFKC", text).casefold()

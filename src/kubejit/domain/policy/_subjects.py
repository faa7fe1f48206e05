"""Who a policy talks about: an :class:`Identity` as kubejit sees it, and the :class:`Subjects` lists (users,
groups, :class:`ClaimMatch` rules on token claims) that name people and workloads, plus the
:class:`IdentityMapping` of IdP names to the cluster's.

Why it exists: every decision (who may request, approve, break the glass, administer) asks a subjects list
whether it includes an identity; this is that matching, apart from the rest of the model. Used by the model
(``_model``), the checks (``_subject_checks``), the policy loader (``adapters/policy_file``, which builds
:class:`ClaimMatch` values with :func:`claim_match_from`) and the identity adapters (``adapters/idp``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase

Claims = tuple[tuple[str, str], ...]  # (name, value) pairs, sorted by name


@dataclass(frozen=True)
class Identity:
    """A person or workload as kubejit sees it: the user name and groups as the cluster sees them (with the
    issuer's usernamePrefix and groupsPrefix, when it sets any), and the claims its issuer keeps for policy
    rules (``policyClaims``: sorted (name, value) pairs; a nested claim is named with '/')."""

    user: str
    groups: frozenset[str] = frozenset()
    claims: Claims = ()

    def claim(self, name: str) -> str | None:
        """The value of claim ``name``, or None when the token did not carry it (or its issuer keeps no such
        claim)."""
        return next((value for key, value in self.claims if key == name), None)


@dataclass(frozen=True)
class ClaimMatch:
    """A set of claim patterns that must all hold: each named claim present, its value matching the shell-style
    pattern (``fnmatch``, case-sensitive: ``*`` matches anything, '/' included)."""

    patterns: Claims  # (claim name, pattern), sorted by name; never empty (the loader refuses {})

    def matches(self, who: Identity) -> bool:
        if not self.patterns:
            return False  # a match with no conditions would name everyone: it names nobody
        for name, pattern in self.patterns:
            value = who.claim(name)
            if value is None or not fnmatchcase(value, pattern):
                return False
        return True

    def matched_values(self, who: Identity) -> dict[str, str]:
        """The claims of ``who`` this match looked at, for the audit trail (call only when it matches)."""
        return {name: who.claim(name) or "" for name, _pattern in self.patterns}

    def describe(self) -> str:
        return "claims {" + ", ".join(f"{name}={pattern}" for name, pattern in self.patterns) + "}"


@dataclass(frozen=True)
class Subjects:
    """A set of people named by user name or group, or workloads named by the claims of their tokens (any one
    :class:`ClaimMatch` matching is enough)."""

    users: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    claims: tuple[ClaimMatch, ...] = ()

    def includes(self, who: Identity) -> bool:
        return (
            who.user in self.users
            or not self.groups.isdisjoint(who.groups)
            or any(match.matches(who) for match in self.claims)
        )

    def claim_match_of(self, who: Identity) -> ClaimMatch | None:
        """The first claims rule that names ``who``, or None."""
        return next((match for match in self.claims if match.matches(who)), None)

    @property
    def empty(self) -> bool:
        return not self.users and not self.groups and not self.claims

    def describe(self) -> str:
        parts = [f"group {g}" for g in sorted(self.groups)] + [f"user {u}" for u in sorted(self.users)]
        parts += [match.describe() for match in self.claims]
        return ", ".join(parts) if parts else "nobody"


@dataclass(frozen=True)
class IdentityMapping:
    """How the cluster names IdP identities: kube-apiserver's username and groups prefixes."""

    username_prefix: str = ""
    groups_prefix: str = ""

    def cluster_user(self, user: str) -> str:
        return f"{self.username_prefix}{user}"

    def cluster_group(self, group: str) -> str:
        return f"{self.groups_prefix}{group}"


def claim_match_from(rule: Mapping[str, str]) -> ClaimMatch:
    """The :class:`ClaimMatch` of one ``claims`` rule of a policy file."""
    return ClaimMatch(tuple(sorted(rule.items())))

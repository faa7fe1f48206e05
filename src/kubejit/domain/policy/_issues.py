"""The problems found in a policy: an :class:`Issue` at a field path, a :class:`LocatedIssue` at a file
position, and the :class:`PolicyError` that carries every problem of a policy file that cannot be used.

Why it exists: the checks (``_checks``, ``_subject_checks``) report issues by field path, the policy-file
loader (``adapters/policy_file``) turns them into positions and raises :class:`PolicyError`, and the CLI
(``kubejit policy``) prints them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubejit.domain.errors import InvalidInput


@dataclass(frozen=True)
class Issue:
    """A problem in a policy, at a field path such as ``spec.profiles[0].maxDuration``."""

    path: str
    message: str


@dataclass(frozen=True)
class LocatedIssue:
    """A problem in a policy file, with its position (1-based line and column)."""

    source: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.path}: {self.message}"


class PolicyError(InvalidInput):
    """A policy file that cannot be used, with every problem found in it."""

    def __init__(self, source: str, issues: Sequence[LocatedIssue]) -> None:
        self.source = source
        self.issues = tuple(sorted(issues, key=lambda i: (i.line, i.column)))
        count = len(self.issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        super().__init__(f"{source}: {count} problem{'s' if count != 1 else ''} in the policy:\n{lines}")

"""The checks on a policy's subjects lists: user and group names no signed-in identity can carry, ``claims``
rules that are empty or malformed, and claims rules that name a claim no OIDC issuer keeps.

Why it exists: the policy-file loader (``adapters/policy_file``) runs :func:`subject_name_issues` and
:func:`claim_rule_issues` on each subjects list it reads; the bootstrap (``policy_for_issuers``) runs
:func:`claims_kept_by_nobody` against the configured issuers at every load.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from kubejit.domain.identity_names import group_name_problem, quoted, user_name_problem
from kubejit.domain.policy._issues import Issue
from kubejit.domain.policy._model import AccessPolicy
from kubejit.domain.policy._subjects import Subjects


def subjects_by_path(policy: AccessPolicy) -> Iterator[tuple[str, Subjects]]:
    """Every subjects list of ``policy`` with its field path (``spec.profiles[0].approval.autoApprove``)."""
    yield "spec.admins", policy.admins
    yield "spec.auditors", policy.auditors
    for index, profile in enumerate(policy.profiles):
        at = f"spec.profiles[{index}]"
        yield f"{at}.requesters", profile.requesters
        yield f"{at}.approval.approvers", profile.approval.approvers
        yield f"{at}.approval.autoApprove", profile.approval.auto_approve
        if profile.break_glass is not None:
            yield f"{at}.breakGlass.allowed", profile.break_glass.allowed


def claims_kept_by_nobody(policy: AccessPolicy, kept: Iterable[str]) -> list[Issue]:
    """The claims rules of ``policy`` that name a claim no issuer keeps (``kept``: every issuer's policyClaims):
    such a rule could never match, which is never what its author meant."""
    known = set(kept)
    issues = []
    for at, subjects in subjects_by_path(policy):
        for index, match in enumerate(subjects.claims):
            for name, _pattern in match.patterns:
                if name not in known:
                    issues.append(
                        Issue(
                            f"{at}.claims[{index}]",
                            f"claim {quoted(name)} is kept by no OIDC issuer, so this rule never matches: add it to "
                            "policyClaims of the issuer that vouches for it (broker config, oidc[])",
                        )
                    )
    return issues


def subject_name_issues(users: Sequence[str], groups: Sequence[str], at: str) -> Iterable[Issue]:
    """The names of a subjects list (``at`` is its path, e.g. ``spec.profiles[0].requesters``) that no signed-in
    identity can carry (:mod:`kubejit.domain.identity_names`): the broker refuses such tokens, so the name would
    match nobody, or, written with stray whitespace or invisible characters, not the person meant."""
    for field_name, names, problem_of in (("users", users, user_name_problem), ("groups", groups, group_name_problem)):
        for index, name in enumerate(names):
            problem = problem_of(name)
            if problem is not None:
                yield Issue(
                    f"{at}.{field_name}[{index}]",
                    f"{quoted(name)} {problem}; no identity the broker accepts has such a name: write the "
                    "name exactly as the identity provider sends it",
                )


def claim_rule_issues(rules: Sequence[Mapping[str, str]], at: str) -> Iterable[Issue]:
    """What is wrong with the ``claims`` rules of a subjects list (``at`` is its path): a rule with no claim
    would match every token, and a claim needs a name and a pattern."""
    for index, rule in enumerate(rules):
        where = f"{at}.claims[{index}]"
        if not rule:
            yield Issue(where, "an empty claims rule would match every token: name at least one claim and its pattern")
        for name, pattern in rule.items():
            if not name.strip() or name != name.strip() or any(not part for part in name.split("/")):
                yield Issue(
                    f"{where}.{name}",
                    f"{quoted(name)} is not a claim name: write it as the issuer's policyClaims lists it "
                    "(e.g. repository or kubernetes.io/namespace)",
                )
            elif not pattern:
                yield Issue(f"{where}.{name}", "the pattern is empty: write the value, or '*' for any value")

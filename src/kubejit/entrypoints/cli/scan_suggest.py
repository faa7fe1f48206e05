"""``kubejit scan --suggest FILE|-``: the suggested profiles written as an AccessPolicy that ``kubejit policy
check`` reads.

The profiles come from :func:`kubejit.domain.standing_access.suggest_profiles`; this module words them as
YAML with comments (what each replaces, who was left out, the placeholder approvers to set) and writes the
profiles kubejit would refuse commented out, each under the reason. Before anything is written, the text is
loaded back with the policy loader itself, so a file this writes always passes ``kubejit policy check``'s
validation (a suggestion that did not would be refused here, never written). Called by :mod:`.scan`.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from kubejit.adapters.policy_file import load_policy
from kubejit.domain.errors import InvalidInput
from kubejit.domain.standing_access import APPROVERS_PLACEHOLDER, RoleKind, SuggestedProfile

_INDENT = "    "


def _profile_document(profile: SuggestedProfile) -> dict[str, Any]:
    replaced = ", ".join(str(binding) for binding in profile.replaces[:3])
    more = len(profile.replaces) - 3
    document: dict[str, Any] = {
        "name": profile.name,
        "description": f"Replaces standing {replaced}" + (f" and {more} more" if more > 0 else ""),
    }
    if profile.role.kind is RoleKind.ROLE:
        document["role"] = {"name": profile.role.name, "namespace": profile.role_namespace}
    else:
        document["clusterRole"] = profile.role.name
    if profile.cluster_wide:
        document["scope"] = "cluster"
    else:
        document["namespaces"] = list(profile.namespaces)
    document["maxDuration"] = profile.max_duration
    requesters = {"users": list(profile.users), "groups": list(profile.groups)}
    document["requesters"] = {key: names for key, names in requesters.items() if names}
    document["approval"] = {"approvers": {"groups": [APPROVERS_PLACEHOLDER]}}
    document["reason"] = {"required": True}
    if profile.accepted_risks and not profile.refusal:  # a refused profile accepts nothing for the user
        justification = (
            "Was standing access (kubejit scan); now just in time, with approval. "
            "Review: keep the risk or narrow the role."
        )
        document["allowRisks"] = [{"id": str(risk), "justification": justification} for risk in profile.accepted_risks]
    return document


def _comment(text: str) -> Iterable[str]:
    """``text`` as comment lines of the profiles list, wrapped to a readable width."""
    return textwrap.wrap(text, width=110, initial_indent=f"{_INDENT}# ", subsequent_indent=f"{_INDENT}#   ")


def _risk_ids(profile: SuggestedProfile, limit: int = 6) -> str:
    ids = [str(risk.id) for risk in profile.risks]
    return ", ".join(ids[:limit]) + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def _lines(profile: SuggestedProfile) -> list[str]:
    dumped = yaml.safe_dump([_profile_document(profile)], sort_keys=False, width=100, allow_unicode=True)
    lines = ["", *_comment(f"{profile.name}: {profile.risks[0].severity}, {_risk_ids(profile)}")]
    for why in profile.left_out:
        lines += _comment(f"left out: {why}")
    if profile.refusal:
        lines += _comment(f"NOT USABLE AS WRITTEN, so commented out: {profile.refusal}.")
        return lines + [f"{_INDENT}# {line}" for line in dumped.splitlines()]
    return lines + [f"{_INDENT}{line}" for line in dumped.splitlines()]


def suggestion_text(profiles: Sequence[SuggestedProfile], *, source: str) -> str:
    """The AccessPolicy YAML for ``profiles``, with its comments."""
    head = [
        f"# Written by kubejit scan --suggest from {source}: profiles that would replace the standing risky",
        "# bindings it found with just-in-time access. Before use:",
        f"#   - set the approvers: every profile names the placeholder group {APPROVERS_PLACEHOLDER};",
        "#   - review each allowRisks justification (standing access had the risk; a person should agree);",
        "#   - then remove the standing bindings each profile replaces (its description names them).",
        "# Check it with: kubejit policy check FILE --kubeconfig KUBECONFIG",
        "apiVersion: kubejit.io/v1alpha1",
        "kind: AccessPolicy",
        "metadata:",
        "  name: suggested",
        "spec:",
        "  defaults: {defaultDuration: 30m, maxDuration: 4h, pendingTimeout: 1h}",
        "  profiles:",
    ]
    body = [line for profile in profiles for line in _lines(profile)]
    if not any(not profile.refusal for profile in profiles):
        body.append(f"{_INDENT}# no usable profile: kubejit policy check refuses this file until one is added")
    return "\n".join(head + body) + "\n"


def write_suggestion(profiles: Sequence[SuggestedProfile], target: str, *, source: str) -> None:
    """Write the policy to ``target`` (``-``: stdout) and say on stderr what the user must do next. Raises
    ``InvalidInput`` for a target that cannot be written."""
    text = suggestion_text(profiles, source=source)
    usable = [profile for profile in profiles if not profile.refusal]
    if usable:
        load_policy(text, source="the suggested policy")  # fail closed: never write what the loader refuses
    if target == "-":
        sys.stdout.write(text)
    else:
        try:
            Path(target).write_text(text, encoding="utf-8")
        except OSError as error:
            raise InvalidInput(f"--suggest {target}: cannot write the policy: {error}") from error
    where = "stdout" if target == "-" else target
    refused = len(profiles) - len(usable)
    note = f"suggested policy written to {where}: {len(usable)} profile(s)"
    note += f", {refused} commented out (kubejit would refuse them; the file says why)" if refused else ""
    print(note, file=sys.stderr)
    if usable:
        print(
            f"set the approvers before use: every profile names the placeholder group {APPROVERS_PLACEHOLDER}",
            file=sys.stderr,
        )
    else:
        print("no usable profile: kubejit policy check refuses the file until one is added", file=sys.stderr)

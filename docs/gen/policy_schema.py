"""The policy schema page of the docs site, rendered from the policy file's own pydantic models at build time.

``mkdocs build`` loads this file as a hook (``hooks:`` in mkdocs.yml): :func:`on_files` adds the generated page
``policy-schema.md`` to the site, so the field tables cannot drift from ``kubejit.adapters.policy_file``. The
structure (YAML names, types, defaults, bounds, patterns) comes from the models; what each field means comes
from :data:`FIELD_NOTES`, and a field without a note stops the build (:class:`UndocumentedField`), so a field
added to the models cannot ship without a line here. ``tests/unit/test_docs_policy_schema.py`` checks that every
field of every model appears. The hand-written guide is docs/policy-reference.md.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from kubejit.adapters.policy_file import PolicyModel

if TYPE_CHECKING:
    from mkdocs.config.defaults import MkDocsConfig
    from mkdocs.structure.files import Files

PAGE = "policy-schema.md"
SOURCE = "src/kubejit/adapters/policy_file.py"

# What each section is, by model class name: the table's heading and its first sentence.
MODEL_NOTES: Mapping[str, tuple[str, str]] = {
    "PolicyModel": ("Document", "The whole file: one YAML document."),
    "MetadataModel": ("metadata", "The policy's name, recorded in the audit trail when the policy is loaded."),
    "SpecModel": ("spec", "Who administers and audits kubejit, the defaults, the profiles and the guardrails."),
    "IdentityModel": (
        "spec.identity",
        "The prefixes kube-apiserver adds to the identity provider's names (its `claimMappings` prefixes). "
        "Must be empty when any configured issuer sets its own prefixes.",
    ),
    "SubjectsModel": (
        "Subjects",
        "A list of people and workloads: someone named by any of `users`, `groups` or `claims` is in it. "
        "Used by `admins`, `auditors`, `requesters`, `approval.approvers` and `breakGlass.allowed`.",
    ),
    "DefaultsModel": ("spec.defaults", "Durations that apply to every profile unless it sets its own."),
    "ProfileModel": (
        "Profile",
        "An access profile people may request. Exactly one of `clusterRole`, `role` or `rules` is set.",
    ),
    "RoleRefModel": ("Profile role", "A namespaced Role, bound only in its own namespace."),
    "RuleModel": (
        "RBAC rule",
        "An RBAC PolicyRule, as in a ClusterRole: either `apiGroups` + `resources`, or `nonResourceURLs`.",
    ),
    "ApprovalModel": ("Profile approval", "Who approves a request for the profile, and how many of them."),
    "AutoApproveModel": (
        "Auto-approval",
        "Subjects whose requests are approved at once (a Subjects list with a duration cap).",
    ),
    "ReasonModel": ("Profile reason", "What a request's reason must look like."),
    "AllowRiskModel": (
        "Accepted risk",
        "A critical or high RBAC risk finding the profile accepts on purpose (ids: see the guide's Risk findings).",
    ),
    "BreakGlassModel": ("Break-glass", "People who may activate the profile themselves in an emergency."),
    "GuardrailModel": (
        "Guardrail",
        "Runtime rules the gateway applies to every request made under a grant of a profile that names it.",
    ),
    "RequestRuleModel": (
        "Request rule",
        "Matches a Kubernetes request when every field it names matches (an empty field matches anything).",
    ),
    "ExecModel": ("Exec rule", "Checks the command of `kubectl exec` (and every other way to run one) first."),
    "AlertRuleModel": (
        "Alert rule",
        "A rule evaluated on the live activity of each grant; what each kind counts, its defaults and what it "
        "cannot see are in [Anomalies and alerts](alerts.md).",
    ),
}

# What each field means, by (model class name, Python field name).
FIELD_NOTES: Mapping[tuple[str, str], str] = {
    ("PolicyModel", "api_version"): "The format's version.",
    ("PolicyModel", "kind"): "Always `AccessPolicy`.",
    ("PolicyModel", "metadata"): "The policy's name.",
    ("PolicyModel", "spec"): "The policy itself.",
    ("MetadataModel", "name"): "Lower-case letters, digits and `-`.",
    ("SpecModel", "identity"): "Prefixes kube-apiserver adds to names from the identity provider.",
    ("SpecModel", "admins"): "May do anything in kubejit (approve, revoke, read the audit trail); still audited.",
    ("SpecModel", "auditors"): "Read and verify the whole audit trail and see all requests.",
    ("SpecModel", "defaults"): "Durations for profiles that set none.",
    ("SpecModel", "profiles"): "The access profiles; at least one, names unique.",
    ("SpecModel", "guardrails"): "Guardrails that profiles name; names unique.",
    ("SpecModel", "alerts"): "Anomaly rules on the live activity stream; none by default.",
    ("IdentityModel", "username_prefix"): "Put before user names in bindings (kube-apiserver's username prefix).",
    ("IdentityModel", "groups_prefix"): "Put before group names in bindings (kube-apiserver's groups prefix).",
    ("SubjectsModel", "users"): "User names, as the identity provider (and so the cluster) names them.",
    ("SubjectsModel", "groups"): "Group names.",
    ("SubjectsModel", "claims"): (
        "Rules on token claims: each maps claim names to shell-style patterns, and matches when all of them do; "
        "the list matches when any rule does. Only claims an issuer keeps (`policyClaims`) can match."
    ),
    ("AutoApproveModel", "users"): "As in Subjects.",
    ("AutoApproveModel", "groups"): "As in Subjects.",
    ("AutoApproveModel", "claims"): "As in Subjects.",
    ("AutoApproveModel", "max_duration"): (
        "Only requests (and extensions) up to this long are approved at once; longer ones wait for approvers."
    ),
    ("DefaultsModel", "default_duration"): "Used when a request names no duration; at most `maxDuration`.",
    ("DefaultsModel", "max_duration"): "The cap for every profile's `maxDuration`.",
    ("DefaultsModel", "pending_timeout"): "A request not approved within this time is `timed-out`.",
    ("ProfileModel", "name"): "Unique; lower-case letters, digits and `-`.",
    ("ProfileModel", "description"): "Free text, shown by `kubejit policy explain`.",
    ("ProfileModel", "cluster_role"): "A ClusterRole to bind (in each namespace; cluster-wide with `scope: cluster`).",
    ("ProfileModel", "role"): "A namespaced Role to bind instead.",
    ("ProfileModel", "rules"): "Inline RBAC rules, bound as the ClusterRole `kubejit:profile:<name>` made from them.",
    ("ProfileModel", "scope"): "`namespaced` (a RoleBinding per namespace) or `cluster` (one ClusterRoleBinding).",
    ("ProfileModel", "namespaces"): "Names or `*` patterns; a request names concrete namespaces. None for `cluster`.",
    ("ProfileModel", "default_duration"): "Used when a request names no duration.",
    ("ProfileModel", "max_duration"): "The longest a request may ask for; at most `spec.defaults.maxDuration`.",
    ("ProfileModel", "max_extended_duration"): "The grant's whole life with extensions; default: `maxDuration`.",
    ("ProfileModel", "requesters"): "Who may request the profile.",
    ("ProfileModel", "approval"): "Who approves, and how many.",
    ("ProfileModel", "reason"): "What the reason of a request must say.",
    ("ProfileModel", "allow_risks"): "Risk findings accepted on purpose, each with a justification.",
    ("ProfileModel", "guardrails"): "Names of guardrails in `spec.guardrails` that apply to its grants.",
    ("ProfileModel", "break_glass"): "Optional self-activated emergency access, reviewed afterwards.",
    ("RoleRefModel", "name"): "The Role's name.",
    ("RoleRefModel", "namespace"): "Its namespace: the profile's only namespace.",
    ("RuleModel", "verbs"): "At least one verb.",
    ("RuleModel", "api_groups"): '`""` is the core group.',
    ("RuleModel", "resources"): "Resources and subresources (`pods`, `pods/log`).",
    ("RuleModel", "resource_names"): "Narrows the rule to these object names.",
    ("RuleModel", "non_resource_urls"): (
        "URLs outside the API (`/healthz`); RBAC honours them only through a ClusterRoleBinding (`scope: cluster`)."
    ),
    ("ApprovalModel", "approvers"): "Who may approve.",
    ("ApprovalModel", "required"): "Distinct approvals needed; the requester never counts.",
    ("ApprovalModel", "allow_self_approval"): "Lets the requester count as one of the approvers.",
    ("ApprovalModel", "auto_approve"): "Subjects whose requests need no review.",
    ("ReasonModel", "required"): "A request must give a reason.",
    ("ReasonModel", "pattern"): "A Python regular expression searched in the reason.",
    ("AllowRiskModel", "id"): "A risk id.",
    ("AllowRiskModel", "justification"): "Why the risk is accepted; must not be empty.",
    ("BreakGlassModel", "allowed"): "Who may activate the profile themselves.",
    ("BreakGlassModel", "max_duration"): "The longest break-glass grant.",
    ("GuardrailModel", "name"): "Unique; lower-case letters, digits and `-`.",
    ("GuardrailModel", "description"): "Free text.",
    ("GuardrailModel", "deny"): "Requests refused with the rule's message, even when RBAC allows them.",
    ("GuardrailModel", "warn"): "Requests allowed with the rule's message as a warning.",
    ("GuardrailModel", "exec"): "Commands refused in pods.",
    ("RequestRuleModel", "message"): "Shown to the person whose request matched.",
    ("RequestRuleModel", "verbs"): "Kubernetes verbs (`get`, `delete`, ...).",
    ("RequestRuleModel", "api_groups"): "API groups.",
    ("RequestRuleModel", "resources"): "RBAC forms: `pods`, `pods/exec`, `*/scale`, `*`, and `pods/*`.",
    ("RequestRuleModel", "namespaces"): "Namespace names or `*` globs.",
    ("RequestRuleModel", "names"): "Object names or `*` globs.",
    ("ExecModel", "deny_commands"): "Command patterns such as `rm -rf`; flags match in any form.",
    ("ExecModel", "message"): "Shown when a command is refused.",
    ("ExecModel", "allow_interactive_shells"): "`false` refuses interactive shells (`kubectl exec -it ... -- sh`).",
    ("ExecModel", "fail_closed"): "Refuse commands that cannot be checked.",
    ("AlertRuleModel", "name"): "Unique among the rules; default: the kind.",
    ("AlertRuleModel", "kind"): "What the rule looks for (see the kinds in the alerts guide).",
    ("AlertRuleModel", "action"): "`notify` (audit, webhooks, metrics) or `revoke` (that, and the grant is revoked).",
    ("AlertRuleModel", "threshold"): "Events within `window` that raise the alert; default per kind.",
    ("AlertRuleModel", "window"): "How far back events count (idle-grant: the quiet time); default per kind.",
    ("AlertRuleModel", "namespaces"): "privileged-exec: namespace patterns watched; default `[kube-system]`.",
    ("AlertRuleModel", "names"): "privileged-exec: pod name patterns watched anywhere; default none.",
    ("AlertRuleModel", "profiles"): "Only grants of these profiles; default: every grant.",
}


class UndocumentedField(Exception):
    """A model or field of the policy file has no note here: the page would be missing it."""


def models(root: type[BaseModel] = PolicyModel) -> list[type[BaseModel]]:
    """Every model reachable from ``root`` through its fields, in first-seen order (the page's order)."""
    seen: list[type[BaseModel]] = []
    pending = [root]
    while pending:
        model = pending.pop(0)
        if model in seen:
            continue
        seen.append(model)
        for info in model.model_fields.values():
            pending.extend(_models_in(info.annotation))
    return seen


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)


def yaml_name(name: str, info: FieldInfo) -> str:
    """The field's name as written in the policy file (its alias)."""
    return info.alias or name


def type_text(annotation: Any) -> str:
    """The annotation in words, with models as links to their sections."""
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{_title(annotation)}](#{_anchor(annotation)})"
    if origin is Literal:
        return ("one of " if len(arguments) > 1 else "") + ", ".join(f"`{value}`" for value in arguments)
    if origin in (types.UnionType, typing.Union):
        return " or ".join(type_text(a) for a in arguments if a is not type(None))
    if origin is list:
        return f"list of {type_text(arguments[0])}"
    if origin is dict:
        return f"map of {type_text(arguments[0])} to {type_text(arguments[1])}"
    return {str: "string", int: "integer", bool: "boolean"}.get(annotation, str(annotation))


def default_text(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    default = info.get_default(call_default_factory=True)
    if default is None:
        return "unset"
    if isinstance(default, BaseModel):
        return "all defaults"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if default in ([], {}):
        return "empty"
    return f"`{default}`" if default != "" else '`""`'


def bounds_text(info: FieldInfo) -> str:
    """Length and range bounds and patterns that pydantic enforces on the field."""
    words = {"min_length": "length >= {}", "max_length": "length <= {}", "ge": ">= {}", "le": "<= {}"}
    found: list[str] = []
    for item in info.metadata:
        for attribute, text in words.items():
            value = getattr(item, attribute, None)
            if value is not None:
                found.append(text.format(value))
        pattern = getattr(item, "pattern", None)
        if pattern is not None:
            found.append(f"matches `{pattern}`")
    return "; ".join(found)


def note(model: type[BaseModel], name: str) -> str:
    try:
        return FIELD_NOTES[(model.__name__, name)]
    except KeyError:
        raise UndocumentedField(
            f"{SOURCE}: {model.__name__}.{name} has no line in docs/gen/policy_schema.py FIELD_NOTES: "
            "add what it means there, so the policy schema page lists it"
        ) from None


def _model_note(model: type[BaseModel]) -> tuple[str, str]:
    try:
        return MODEL_NOTES[model.__name__]
    except KeyError:
        raise UndocumentedField(
            f"{SOURCE}: model {model.__name__} has no entry in docs/gen/policy_schema.py MODEL_NOTES: "
            "add its section title and what it is"
        ) from None


def _title(model: type[BaseModel]) -> str:
    return _model_note(model)[0]


def _anchor(model: type[BaseModel]) -> str:
    return model.__name__.lower()


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def section(model: type[BaseModel]) -> str:
    """One model as a heading, its sentence and a table with a row per field."""
    title, what = _model_note(model)
    lines = [
        f"## {title} {{ #{_anchor(model)} }}",
        "",
        what,
        "",
        "| field | type | default | bounds | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, info in model.model_fields.items():
        cells = [f"`{yaml_name(name, info)}`", type_text(info.annotation), default_text(info), bounds_text(info)]
        lines.append("| " + " | ".join(_cell(c) for c in [*cells, note(model, name)]) + " |")
    return "\n".join(lines)


def render(root: type[BaseModel] = PolicyModel) -> str:
    """The whole page, as markdown."""
    intro = [
        "# Policy schema reference",
        "",
        f"Generated from the policy file's models (`{SOURCE}`) each time the site is built: every field the "
        "loader accepts is here, and nothing else (unknown fields are refused). Durations are strings such as "
        "`45s`, `30m`, `1h30m`. What the fields are for, the checks that span several fields and worked "
        "examples are in the [policy guide](policy-reference.md).",
    ]
    return "\n\n".join(["\n".join(intro), *(section(m) for m in models(root))]) + "\n"


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """mkdocs hook: add the generated page to the site's files."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=render()))
    return files

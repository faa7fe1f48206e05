"""Reads an ``AccessPolicy`` YAML file into the domain's policy values, or says precisely what is wrong.

Every problem is reported with file, line and column, the field path (``spec.profiles[0].maxDuration``),
what is wrong and how to fix it, and all problems are reported at once. The file format (field names in
DESIGN.md section 5) is described by pydantic models, which catch structure and types; parsing of
durations, regexes and command patterns, the user and group names of every subjects list
(:func:`kubejit.domain.policy.subject_name_issues`), and the checks that span fields
(:func:`kubejit.domain.policy.semantic_issues`) follow. Nothing is half-loaded: either a whole policy or
a :class:`~kubejit.domain.policy.PolicyError`.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from kubejit.domain import policy as p
from kubejit.domain.anomalies import MAX_THRESHOLD, Action, AlertRule, RuleKind, parameter_problem, rule_with_defaults
from kubejit.domain.durations import parse_duration
from kubejit.domain.errors import InvalidInput
from kubejit.domain.exec_commands import parse_pattern
from kubejit.domain.guardrails import ExecRule, Guardrail, RequestRule
from kubejit.domain.rbac import PolicyRule

# ---- the file format ------------------------------------------------------------------------------------------

_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, alias_generator=to_camel)


class SubjectsModel(_Model):
    users: list[str] = []
    groups: list[str] = []
    claims: list[dict[str, str]] = []  # each: claim name -> shell-style pattern; all of one, any of the list


class AutoApproveModel(SubjectsModel):
    max_duration: str | None = None


class IdentityModel(_Model):
    username_prefix: str = ""
    groups_prefix: str = ""


class DefaultsModel(_Model):
    default_duration: str = "1h"
    max_duration: str = "4h"
    pending_timeout: str = "1h"


class RuleModel(_Model):
    verbs: list[str] = Field(min_length=1)
    api_groups: list[str] = []
    resources: list[str] = []
    resource_names: list[str] = []
    non_resource_urls: list[str] = Field(default=[], alias="nonResourceURLs")

    @model_validator(mode="after")
    def _resource_or_url(self) -> RuleModel:
        if self.non_resource_urls and (self.resources or self.api_groups):
            raise ValueError("a rule has either nonResourceURLs or apiGroups+resources, not both")
        if not self.non_resource_urls and not self.resources:
            raise ValueError('a rule needs resources (with apiGroups; "" is the core group) or nonResourceURLs')
        return self


class RoleRefModel(_Model):
    name: str
    namespace: str


class ApprovalModel(_Model):
    approvers: SubjectsModel = SubjectsModel()
    required: int = Field(default=1, ge=1, le=20)
    allow_self_approval: bool = False
    auto_approve: AutoApproveModel = AutoApproveModel()


class ReasonModel(_Model):
    required: bool = True
    pattern: str | None = None


class AllowRiskModel(_Model):
    id: str
    justification: str


class BreakGlassModel(_Model):
    allowed: SubjectsModel
    max_duration: str | None = None


class ProfileModel(_Model):
    name: str = Field(pattern=_NAME, max_length=63)
    description: str = ""
    cluster_role: str | None = None
    role: RoleRefModel | None = None
    rules: list[RuleModel] | None = None
    scope: Literal["namespaced", "cluster"] = "namespaced"
    namespaces: list[str] = []
    default_duration: str | None = None
    max_duration: str | None = None
    max_extended_duration: str | None = None
    requesters: SubjectsModel = SubjectsModel()
    approval: ApprovalModel = ApprovalModel()
    reason: ReasonModel = ReasonModel()
    allow_risks: list[AllowRiskModel] = []
    guardrails: list[str] = []
    break_glass: BreakGlassModel | None = None

    @model_validator(mode="after")
    def _one_role_source(self) -> ProfileModel:
        given = [n for n, v in (("clusterRole", self.cluster_role), ("role", self.role), ("rules", self.rules)) if v]
        if len(given) != 1:
            raise ValueError(
                "set exactly one of clusterRole, role or rules"
                + (f" (found {', '.join(given)})" if given else " (none is set)")
            )
        return self


class RequestRuleModel(_Model):
    message: str = Field(min_length=1)
    verbs: list[str] = []
    api_groups: list[str] = []
    resources: list[str] = []
    namespaces: list[str] = []
    names: list[str] = []


class ExecModel(_Model):
    deny_commands: list[str] = Field(min_length=1)
    message: str = ""
    allow_interactive_shells: bool = True
    fail_closed: bool = True


class GuardrailModel(_Model):
    name: str = Field(pattern=_NAME, max_length=63)
    description: str = ""
    deny: list[RequestRuleModel] = []
    warn: list[RequestRuleModel] = []
    exec: ExecModel | None = None


AlertKindName = Literal[
    "guardrail-denial",
    "forbidden-burst",
    "secret-burst",
    "delete-burst",
    "privileged-exec",
    "ephemeral-container",
    "rbac-then-workload",
    "break-glass",
    "outside-namespaces",
    "idle-grant",
    "event-deletion",
]  # RuleKind's values (a unit test holds the two together)


class AlertRuleModel(_Model):
    name: str | None = Field(default=None, pattern=_NAME, max_length=63)
    kind: AlertKindName
    action: Literal["notify", "revoke"] = "notify"
    threshold: int | None = Field(default=None, ge=1, le=MAX_THRESHOLD)
    window: str | None = None
    namespaces: list[str] | None = None
    names: list[str] | None = None
    profiles: list[str] = []


class SpecModel(_Model):
    identity: IdentityModel = IdentityModel()
    admins: SubjectsModel = SubjectsModel()
    auditors: SubjectsModel = SubjectsModel()
    defaults: DefaultsModel = DefaultsModel()
    profiles: list[ProfileModel] = Field(min_length=1)
    guardrails: list[GuardrailModel] = []
    alerts: list[AlertRuleModel] = []


class MetadataModel(_Model):
    name: str = Field(pattern=_NAME, max_length=63)


class PolicyModel(_Model):
    api_version: Literal["kubejit.io/v1alpha1"]
    kind: Literal["AccessPolicy"]
    metadata: MetadataModel
    spec: SpecModel


# ---- positions --------------------------------------------------------------------------------------------------

FieldPath = tuple[str | int, ...]


class _Positions:
    """Line and column (1-based) of every mapping key and sequence item, by field path."""

    def __init__(self) -> None:
        self.at: dict[FieldPath, tuple[int, int]] = {}
        self.duplicates: list[tuple[FieldPath, tuple[int, int]]] = []

    def index(self, node: yaml.Node, path: FieldPath = ()) -> None:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in node.value:
                name = str(key.value)
                where = (key.start_mark.line + 1, key.start_mark.column + 1)
                if name in seen:
                    self.duplicates.append(((*path, name), where))
                seen.add(name)
                self.at[(*path, name)] = where
                self.index(value, (*path, name))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.at[(*path, i)] = (item.start_mark.line + 1, item.start_mark.column + 1)
                self.index(item, (*path, i))

    def of(self, path: FieldPath) -> tuple[int, int]:
        for end in range(len(path), 0, -1):
            found = self.at.get(path[:end])
            if found:
                return found
        return (1, 1)


def dotted(path: FieldPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out or "(document)"


def _parse_dotted(path: str) -> FieldPath:
    parts: list[str | int] = []
    for name, index in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path):
        parts.append(int(index) if index else name)
    return tuple(parts)


# ---- loading ----------------------------------------------------------------------------------------------------


def load_policy_file(path: Path) -> p.AccessPolicy:
    try:
        text = path.read_text()
    except OSError as error:
        raise InvalidInput(f"cannot read policy file {path}: {error.strerror or error}") from error
    return load_policy(text, str(path))


def load_policy(text: str, source: str = "<policy>") -> p.AccessPolicy:
    """Parse and check a policy document; raise :class:`PolicyError` listing every problem."""
    positions = _Positions()
    data = _parse_yaml(text, source, positions)
    issues = [
        p.LocatedIssue(source, line, column, dotted(path), "this key appears twice in the same mapping: keep one")
        for path, (line, column) in positions.duplicates
    ]
    try:
        model = PolicyModel.model_validate(data)
    except ValidationError as error:
        issues += [_from_pydantic(e, source, positions) for e in error.errors(include_url=False)]
        raise p.PolicyError(source, issues) from None
    builder = _Builder()
    policy = builder.policy(model)
    # Fields whose value could not be read were left at their defaults: say nothing more about them.
    unreadable = {issue.path for issue in builder.issues}
    problems = builder.issues + [i for i in p.semantic_issues(policy) if i.path not in unreadable]
    issues += [_locate(issue, source, positions) for issue in problems]
    if issues:
        raise p.PolicyError(source, issues)
    return policy


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it


def _parse_yaml(text: str, source: str, positions: _Positions) -> Any:
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise p.PolicyError(source, [p.LocatedIssue(source, 1, 1, "(document)", "the file is empty")])
        positions.index(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"not valid YAML: {error.problem or error.context}"
        raise p.PolicyError(source, [p.LocatedIssue(source, line, column, "(document)", message)]) from None
    except yaml.YAMLError as error:
        raise p.PolicyError(source, [p.LocatedIssue(source, 1, 1, "(document)", f"not valid YAML: {error}")]) from None
    finally:
        loader.dispose()


def _locate(issue: p.Issue, source: str, positions: _Positions) -> p.LocatedIssue:
    line, column = positions.of(_parse_dotted(issue.path))
    return p.LocatedIssue(source, line, column, issue.path, issue.message)


_MESSAGES: dict[str, str] = {
    "string_type": "must be a string (quote it if YAML reads it as a number or boolean)",
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
    "list_type": "must be a list (for example [a, b] or one '- item' per line)",
    "model_type": "must be a mapping of fields",
    "dict_type": "must be a mapping of fields",
    "string_pattern_mismatch": "must be lower-case letters, digits and '-', starting and ending alphanumeric",
    "too_short": "must not be empty",
}


def _from_pydantic(error: Any, source: str, positions: _Positions) -> p.LocatedIssue:
    loc: FieldPath = tuple(part for part in error["loc"] if not (isinstance(part, str) and "[" in part))
    kind = error["type"]
    if kind == "extra_forbidden":
        message = f"unknown field {loc[-1]!r}" + _suggestion(loc)
    elif kind == "missing":
        message = f"required field {loc[-1]!r} is missing"
    elif kind == "literal_error":
        message = f"must be {error['ctx']['expected']}"
    elif kind in _MESSAGES:
        message = _MESSAGES[kind]
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    line, column = positions.of(loc)
    return p.LocatedIssue(source, line, column, dotted(loc), message)


def _suggestion(loc: FieldPath) -> str:
    """``: did you mean 'maxDuration'?`` or the list of known fields at that place."""
    fields = _known_fields(PolicyModel, loc[:-1])
    if not fields:
        return ": remove it"
    close = difflib.get_close_matches(str(loc[-1]), fields, n=1)
    if close:
        return f": did you mean {close[0]!r}?"
    return f": remove it (known fields here: {', '.join(sorted(fields))})"


def _known_fields(model: type[BaseModel], path: FieldPath) -> list[str]:
    current: Any = model
    for part in path:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        match = next((f for f in current.model_fields.values() if f.alias == part), None)
        if match is None:
            return []
        current = _model_in(match.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [str(f.alias) for f in current.model_fields.values()]
    return []


def _model_in(annotation: Any) -> Any:
    """The BaseModel inside ``X | None`` or ``list[X]``, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


# ---- model -> domain values -------------------------------------------------------------------------------------


class _Builder:
    """Turns the validated file model into domain values, collecting value-level problems by path."""

    def __init__(self) -> None:
        self.issues: list[p.Issue] = []

    def _duration(self, text: str | None, path: str) -> Any:
        if text is None:
            return None
        try:
            return parse_duration(text)
        except InvalidInput as error:
            self.issues.append(p.Issue(path, str(error)))
            return None

    def _subjects(self, m: SubjectsModel, at: str) -> p.Subjects:
        """The users and groups of a subjects list; names no identity could carry are problems at their item."""
        self.issues.extend(p.subject_name_issues(m.users, m.groups, at))
        self.issues.extend(p.claim_rule_issues(m.claims, at))
        return p.Subjects(
            users=frozenset(m.users),
            groups=frozenset(m.groups),
            claims=tuple(p.claim_match_from(rule) for rule in m.claims),
        )

    def policy(self, model: PolicyModel) -> p.AccessPolicy:
        spec = model.spec
        defaults = p.Defaults(
            default_duration=self._duration(spec.defaults.default_duration, "spec.defaults.defaultDuration")
            or p.Defaults.default_duration,
            max_duration=self._duration(spec.defaults.max_duration, "spec.defaults.maxDuration")
            or p.Defaults.max_duration,
            pending_timeout=self._duration(spec.defaults.pending_timeout, "spec.defaults.pendingTimeout")
            or p.Defaults.pending_timeout,
        )
        guardrails: dict[str, Guardrail] = {}
        for index, g in enumerate(spec.guardrails):
            at = f"spec.guardrails[{index}]"
            if g.name in guardrails:
                self.issues.append(p.Issue(f"{at}.name", f"guardrail {g.name!r} is defined twice: rename one"))
            guardrails[g.name] = self.guardrail(g, at)
        return p.AccessPolicy(
            name=model.metadata.name,
            profiles=tuple(self.profile(pm, f"spec.profiles[{i}]") for i, pm in enumerate(spec.profiles)),
            guardrails=guardrails,
            identity=p.IdentityMapping(spec.identity.username_prefix, spec.identity.groups_prefix),
            admins=self._subjects(spec.admins, "spec.admins"),
            auditors=self._subjects(spec.auditors, "spec.auditors"),
            defaults=defaults,
            alerts=tuple(self.alert_rule(m, f"spec.alerts[{i}]") for i, m in enumerate(spec.alerts)),
        )

    def alert_rule(self, m: AlertRuleModel, at: str) -> AlertRule:
        kind = RuleKind(m.kind)
        for parameter in ("threshold", "namespaces", "names"):
            problem = parameter_problem(kind, parameter) if getattr(m, parameter) is not None else None
            if problem is not None:
                self.issues.append(p.Issue(f"{at}.{parameter}", problem))
        return rule_with_defaults(
            m.name,
            kind,
            action=Action(m.action),
            threshold=m.threshold,
            window=self._duration(m.window, f"{at}.window"),
            namespaces=m.namespaces,
            names=m.names,
            profiles=m.profiles,
        )

    def profile(self, m: ProfileModel, at: str) -> p.Profile:
        if m.rules is not None:
            role = p.RoleSource(p.RoleKind.INLINE, rules=tuple(_rule(r) for r in m.rules))
        elif m.role is not None:
            role = p.RoleSource(p.RoleKind.ROLE, m.role.name, m.role.namespace)
        else:
            role = p.RoleSource(p.RoleKind.CLUSTER_ROLE, m.cluster_role or "")
        pattern = None
        if m.reason.pattern is not None:
            try:
                pattern = re.compile(m.reason.pattern)
            except re.error as error:
                self.issues.append(p.Issue(f"{at}.reason.pattern", f"not a valid regular expression: {error}"))
        break_glass = None
        if m.break_glass is not None:
            break_glass = p.BreakGlass(
                self._subjects(m.break_glass.allowed, f"{at}.breakGlass.allowed"),
                self._duration(m.break_glass.max_duration, f"{at}.breakGlass.maxDuration"),
            )
        return p.Profile(
            name=m.name,
            description=m.description,
            role=role,
            scope=p.Scope(m.scope),
            namespaces=tuple(m.namespaces),
            default_duration=self._duration(m.default_duration, f"{at}.defaultDuration"),
            max_duration=self._duration(m.max_duration, f"{at}.maxDuration"),
            max_extended_duration=self._duration(m.max_extended_duration, f"{at}.maxExtendedDuration"),
            requesters=self._subjects(m.requesters, f"{at}.requesters"),
            approval=p.Approval(
                approvers=self._subjects(m.approval.approvers, f"{at}.approval.approvers"),
                required=m.approval.required,
                allow_self_approval=m.approval.allow_self_approval,
                auto_approve=self._subjects(m.approval.auto_approve, f"{at}.approval.autoApprove"),
                auto_approve_max_duration=self._duration(
                    m.approval.auto_approve.max_duration, f"{at}.approval.autoApprove.maxDuration"
                ),
            ),
            reason=p.ReasonRule(m.reason.required, pattern),
            allow_risks=tuple(p.AcceptedRisk(r.id, r.justification) for r in m.allow_risks),
            guardrails=tuple(m.guardrails),
            break_glass=break_glass,
        )

    def guardrail(self, m: GuardrailModel, at: str) -> Guardrail:
        exec_rule = None
        if m.exec is not None:
            patterns = []
            for i, text in enumerate(m.exec.deny_commands):
                try:
                    patterns.append(parse_pattern(text))
                except InvalidInput as error:
                    self.issues.append(p.Issue(f"{at}.exec.denyCommands[{i}]", str(error)))
            exec_rule = ExecRule(tuple(patterns), m.exec.message, m.exec.allow_interactive_shells, m.exec.fail_closed)
        if not m.deny and not m.warn and m.exec is None:
            self.issues.append(p.Issue(f"{at}", "a guardrail needs deny, warn or exec rules"))
        return Guardrail(
            name=m.name,
            description=m.description,
            deny=tuple(_request_rule(r) for r in m.deny),
            warn=tuple(_request_rule(r) for r in m.warn),
            exec=exec_rule,
        )


def _rule(m: RuleModel) -> PolicyRule:
    return PolicyRule(
        verbs=tuple(m.verbs),
        api_groups=tuple(m.api_groups),
        resources=tuple(m.resources),
        resource_names=tuple(m.resource_names),
        non_resource_urls=tuple(m.non_resource_urls),
    )


def _request_rule(m: RequestRuleModel) -> RequestRule:
    return RequestRule(
        message=m.message,
        verbs=tuple(m.verbs),
        api_groups=tuple(m.api_groups),
        resources=tuple(m.resources),
        namespaces=tuple(m.namespaces),
        names=tuple(m.names),
    )

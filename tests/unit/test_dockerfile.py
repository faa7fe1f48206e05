"""The Dockerfile's rules, checked without a container engine (none runs here): the file is parsed into its
stages and each rule lists what breaks it. The real Dockerfile must break none, and every rule is shown to catch a
Dockerfile that breaks it (the mutations at the end), so the check cannot pass by checking nothing.

The rules: several stages; every base pinned by exact version tag and digest, the final one a slim Python 3.11;
the final stage only copies from earlier stages (no RUN, no ADD, no build context), on the same base as the stage
it copies the venv from, mentions no package manager, pip or compiler, runs as a fixed numeric non-root uid:gid,
and starts ``kubejit`` in exec form; OCI labels with the project's version; the build installs with
constraints.txt and binary wheels only; .dockerignore lets in only what the build copies.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
IMAGE_USER = "65532:65532"  # docs/deployment.md ("Image") and the chart's securityContext say the same

PINNED = re.compile(r"^(?:[\w.-]+/)*[\w.-]+:\d+\.\d+\.\d+[\w.-]*@sha256:[0-9a-f]{64}$")
SLIM_PYTHON_311 = re.compile(r"^(?:docker\.io/library/)?python:3\.11\.\d+-slim(?:-[a-z]+)?(?:@|$)")
FINAL_STAGE_KEYWORDS = {"ARG", "LABEL", "ENV", "COPY", "USER", "WORKDIR", "EXPOSE", "ENTRYPOINT", "CMD", "STOPSIGNAL"}
BUILD_TOOLS = re.compile(r"\b(apt|apt-get|aptitude|dpkg|apk|pip|pip3|gcc|g\+\+|cc|clang|make|build-essential)\b")
REQUIRED_LABELS = {
    "org.opencontainers.image.title",
    "org.opencontainers.image.version",
    "org.opencontainers.image.source",
    "org.opencontainers.image.licenses",
    "org.opencontainers.image.base.name",
}


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str
    line: int


@dataclass(frozen=True)
class Stage:
    base: str  # with the global ARGs' defaults substituted
    name: str | None
    line: int
    instructions: tuple[Instruction, ...]

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


@dataclass(frozen=True)
class Dockerfile:
    global_args: dict[str, str]
    stages: tuple[Stage, ...]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)


def instructions(text: str) -> list[Instruction]:
    """Logical instructions: comment lines dropped (inside continuations too), backslash continuations joined."""
    found: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not pending:
            start = number
        pending.append(line.removesuffix("\\").strip())
        if line.endswith("\\"):
            continue
        keyword, _, arguments = " ".join(pending).partition(" ")
        found.append(Instruction(keyword.upper(), arguments.strip(), start))
        pending = []
    return found


def substitute(value: str, args: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args.get(m.group(1) or m.group(2), m.group(0)), value)


def arg_default(instruction: Instruction) -> tuple[str, str | None]:
    name, equals, default = instruction.arguments.partition("=")
    return name.strip(), default.strip().strip('"') if equals else None


def parse(text: str) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    current: tuple[str, str | None, int] | None = None
    body: list[Instruction] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            if current is not None:
                stages.append(Stage(*current, tuple(body)))
            words = [w for w in instruction.arguments.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            current, body = (substitute(words[0], global_args), name, instruction.line), []
        elif current is None and instruction.keyword == "ARG":
            name, default = arg_default(instruction)
            if default is not None:
                global_args[name] = default
        else:
            body.append(instruction)
    if current is not None:
        stages.append(Stage(*current, tuple(body)))
    return Dockerfile(global_args, tuple(stages))


def copy_source_stage(instruction: Instruction) -> str | None:
    match = re.search(r"--from=(\S+)", instruction.arguments)
    return match.group(1) if match else None


# ---- the rules: each returns what breaks it --------------------------------------------------------------------


def several_stages(dockerfile: Dockerfile) -> list[str]:
    if len(dockerfile.stages) < 2:
        return ["one stage only: build in a stage of its own and copy the result into the final stage"]
    return []


def pinned_bases(dockerfile: Dockerfile) -> list[str]:
    names = {s.name for s in dockerfile.stages if s.name}
    problems = [
        f"line {s.line}: FROM {s.base} is not pinned by exact version tag and @sha256 digest"
        for s in dockerfile.stages
        if s.base not in names and not PINNED.match(s.base)
    ]
    if not SLIM_PYTHON_311.match(dockerfile.final.base):
        problems.append(f"line {dockerfile.final.line}: the final stage is not a slim Python 3.11 base")
    return problems


def final_stage_only_copies(dockerfile: Dockerfile) -> list[str]:
    final = dockerfile.final
    earlier = {s.name for s in dockerfile.stages[:-1] if s.name}
    problems = [
        f"line {i.line}: {i.keyword} in the final stage (allowed: {', '.join(sorted(FINAL_STAGE_KEYWORDS))})"
        for i in final.instructions
        if i.keyword not in FINAL_STAGE_KEYWORDS
    ]
    problems += [
        f"line {i.line}: COPY in the final stage must be COPY --from=<an earlier stage>: {i.arguments}"
        for i in final.all("COPY")
        if copy_source_stage(i) not in earlier
    ]
    return problems


def same_base_as_the_venv(dockerfile: Dockerfile) -> list[str]:
    """The venv's python is a link to the base's interpreter: the stage it is built in must have the same base."""
    final = dockerfile.final
    problems = []
    for instruction in final.all("COPY"):
        source = dockerfile.stage(copy_source_stage(instruction) or "")
        if source is not None and source.base != final.base:
            problems.append(f"line {instruction.line}: copies from a stage on {source.base}, not the same base")
    return problems


def no_build_tools_in_final(dockerfile: Dockerfile) -> list[str]:
    return [
        f"line {i.line}: {i.keyword} names a build tool or package manager ({match.group(0)})"
        for i in dockerfile.final.instructions
        if i.keyword != "LABEL" and (match := BUILD_TOOLS.search(i.arguments))
    ]


def numeric_non_root_user(dockerfile: Dockerfile) -> list[str]:
    users = dockerfile.final.all("USER")
    if not users:
        return ["no USER in the final stage: the image would run as root"]
    user = users[-1]
    if not re.fullmatch(r"\d+:\d+", user.arguments):
        return [f"line {user.line}: USER {user.arguments} is not a numeric uid:gid (runAsNonRoot needs numbers)"]
    if any(int(part) == 0 for part in user.arguments.split(":")):
        return [f"line {user.line}: USER {user.arguments} is root: use a non-root uid:gid"]
    if user.arguments != IMAGE_USER:
        return [f"line {user.line}: USER {user.arguments} is not {IMAGE_USER}, the uid:gid the docs and chart use"]
    return []


def exec_form_entrypoint(dockerfile: Dockerfile) -> list[str]:
    entrypoints = dockerfile.final.all("ENTRYPOINT")
    try:
        value = json.loads(entrypoints[-1].arguments) if entrypoints else None
    except ValueError:
        value = None
    if value != ["kubejit"]:
        return ['the final stage\'s ENTRYPOINT is not ["kubejit"] (exec form: signals reach kubejit, no shell)']
    return []


def oci_labels(dockerfile: Dockerfile) -> list[str]:
    final = dockerfile.final
    labels = dict(word.partition("=")[::2] for i in final.all("LABEL") for word in shlex.split(i.arguments))
    problems = [f"the final stage has no label {name}" for name in sorted(REQUIRED_LABELS - labels.keys())]
    version = dict(arg_default(i) for i in final.all("ARG")).get("VERSION")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    if labels.get("org.opencontainers.image.version") != "${VERSION}" or version != project:
        problems.append(f"the version label is not ${{VERSION}} with ARG VERSION={project} (pyproject.toml)")
    return problems


def constrained_install(dockerfile: Dockerfile) -> list[str]:
    runs = " ".join(i.arguments for s in dockerfile.stages[:-1] for i in s.all("RUN"))
    problems = []
    if not re.search(r"(--constraint|-c) constraints\.txt", runs):
        problems.append("the build does not install with --constraint constraints.txt (the pinned versions)")
    if "--only-binary=:all:" not in runs:
        problems.append("the build does not install with --only-binary=:all: (no compiler, no sdist builds)")
    return problems


RULES = [
    several_stages,
    pinned_bases,
    final_stage_only_copies,
    same_base_as_the_venv,
    no_build_tools_in_final,
    numeric_non_root_user,
    exec_form_entrypoint,
    oci_labels,
    constrained_install,
]


def problems(text: str) -> list[str]:
    dockerfile = parse(text)
    if not dockerfile.stages:
        return ["no FROM: not a Dockerfile"]
    return [problem for rule in RULES for problem in rule(dockerfile)]


# ---- the tests -------------------------------------------------------------------------------------------------


def test_the_dockerfile_keeps_every_rule() -> None:
    assert problems(DOCKERFILE.read_text()) == []


def test_the_parser_sees_the_two_stages_and_the_pinned_base() -> None:
    dockerfile = parse(DOCKERFILE.read_text())
    assert [s.name for s in dockerfile.stages] == ["build", None]
    assert dockerfile.final.base == dockerfile.stages[0].base
    assert dockerfile.final.base.startswith("docker.io/library/python:3.11.15-slim@sha256:")


def test_dockerignore_lets_in_exactly_what_the_build_copies() -> None:
    patterns = [p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*", "the context must start from nothing (`*`), then let files in"
    allowed = {p.removeprefix("!").rstrip("/") for p in patterns if p.startswith("!")}
    copied = {
        word.rstrip("/")
        for stage in parse(DOCKERFILE.read_text()).stages
        for i in stage.all("COPY")
        if copy_source_stage(i) is None
        for word in i.arguments.split()[:-1]
    }
    assert copied == allowed


THE_DIGEST = "@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff"
FINAL_FROM = "FROM ${PYTHON_IMAGE}\nARG PYTHON_IMAGE"

MUTATIONS = {
    "base without digest": (THE_DIGEST, "", "not pinned"),
    "floating tag": ("python:3.11.15-slim@", "python:3.11-slim@", "not pinned"),
    "not Python 3.11 slim": ("python:3.11.15-slim@", "python:3.12.11@", "not a slim Python 3.11"),
    "final stage on another base": (
        FINAL_FROM,
        f"FROM docker.io/library/python:3.11.15-slim-bookworm@sha256:{'0' * 64}\nARG PYTHON_IMAGE",
        "not the same base",
    ),
    "one stage": ("FROM ${PYTHON_IMAGE} AS build", "RUN true", "one stage only"),
    "RUN in the final stage": ("USER 65532:65532", "RUN apt-get install -y curl\nUSER 65532:65532", "RUN in the"),
    "ADD in the final stage": ("COPY --from=build /opt/kubejit /opt/kubejit", "ADD kubejit.tgz /opt/", "ADD in"),
    "COPY from the context": ("COPY --from=build /opt/kubejit", "COPY src", "must be COPY --from"),
    "pip in the final stage": ('CMD ["--help"]', 'CMD ["pip", "install", "x"]', "build tool"),
    "compiler on PATH": ('ENV PATH="/opt/kubejit/bin:', 'ENV CC=gcc PATH="/opt/kubejit/bin:', "build tool"),
    "named user": ("USER 65532:65532", "USER kubejit", "not a numeric"),
    "root user": ("USER 65532:65532", "USER 0:0", "is root"),
    "another uid": ("USER 65532:65532", "USER 1000:1000", "not 65532:65532"),
    "no user": ("USER 65532:65532\n", "", "no USER"),
    "shell-form entrypoint": ('ENTRYPOINT ["kubejit"]', "ENTRYPOINT kubejit", "ENTRYPOINT"),
    "no source label": ('org.opencontainers.image.source="https://github.com/kubejit/kubejit" \\\n', "", "source"),
    "version out of step": ("ARG VERSION=0.1.0", "ARG VERSION=9.9.9", "version label"),
    "unconstrained install": ("--constraint constraints.txt ", "", "constraints.txt"),
    "source builds allowed": ("--only-binary=:all: ", "", "only-binary"),
}


@pytest.mark.parametrize(("old", "new", "expected"), MUTATIONS.values(), ids=MUTATIONS.keys())
def test_a_dockerfile_that_breaks_a_rule_is_caught(old: str, new: str, expected: str) -> None:
    text = DOCKERFILE.read_text()
    assert old in text, f"the mutation no longer applies to the Dockerfile: {old!r}"
    found = problems(text.replace(old, new))
    assert any(expected in problem for problem in found), found

"""Container entries -> the command lines they run: the reading every body shape ends in.

Why this exists: whatever the body (a whole object, a merging patch, the values of JSON patch operations), the
exec guardrail needs, for each container it sets, the argv the kubelet will start (``command`` + ``args`` after
``$(VAR)`` expansion), the environment it starts with, and whether it keeps stdin or a terminal open. The body
readers (:mod:`._extract`, :mod:`._json_patch`) hand pod specs and container entries to a :class:`Reading`,
which collects :class:`ContainerRun` values and, for what it cannot tell, the reason.

Rules (the security model explains them):

* ``command`` replaces the image's ENTRYPOINT and ``args`` its CMD; with neither the image's own entrypoint
  runs, which the request does not show (an empty argv). With only ``args``, they are checked as the command
  line: an image with no ENTRYPOINT (busybox: ``kubectl run --image=busybox x -- rm -rf /``) runs them as is.
* A variable that carries code (``BASH_ENV``, ``LD_PRELOAD``, ...: ``exec_commands.carries_code``) given a
  ``valueFrom`` cannot be told, like a literal one the exec analysis cannot check.
* ``$(NAME)`` resolves against the container's literal ``env`` values only; a name given by ``valueFrom``,
  ``envFrom`` or not at all may be defined at run time (a ConfigMap edit, a later patch), so it cannot be told.
* In a merging patch (strategic merge, server-side apply) an entry is merged into the stored container: one that
  sets ``command``, ``args``, ``env``, ``envFrom``, ``stdin`` or ``tty`` must set both ``command`` and ``args``
  (``[]`` for none; ``null`` too, except in server-side apply, which drops nulls), or what it will run depends
  on the stored object (fields another field manager owns stay), which the gateway does not see.
* Lifecycle hooks (``postStart``, ``preStop``) and exec probes (``liveness``, ``readiness``, ``startup``) are
  commands the kubelet runs in the container, with its environment: each ``exec.command`` is a run of its own,
  read in every body shape (a patch that sets one says its whole command line), checked both as written and with
  the literal ``$(VAR)`` values filled in (the kubelet expands probes' commands, not hooks').
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kubejit.domain.exec_commands import carries_code
from kubejit.domain.pod_commands._expansion import UnknownVariable, expand
from kubejit.domain.pod_commands._kinds import CONTAINER_LISTS

# The fields that decide what a container runs; a merging patch that touches one must say the whole command line.
_RUN_FIELDS = frozenset({"command", "args", "env", "envFrom", "stdin", "tty"})
_WHOLE_LINE = frozenset({"command", "args"})
# Where the kubelet finds the commands it runs in a container besides its main process (each ends in exec.command).
_HANDLERS = (("lifecycle", "postStart"), ("lifecycle", "preStop"), ("livenessProbe",), ("readinessProbe",),
             ("startupProbe",))  # fmt: skip
HANDLER_FIELDS = frozenset(path[0] for path in _HANDLERS)
# All command lines of one request together, each with its environment: four times what one exec command line may
# be (exec_commands' MAX_ARGV_BYTES, 16 KiB), so a pod of a few containers cannot cost the gateway much more analysis
# than a few execs.
MAX_COMMAND_CHARS = 64 * 1024


@dataclass(frozen=True)
class ContainerRun:
    """One container a request would start, as the kubelet will start it."""

    where: str  # e.g. "spec.template.spec.containers[0] (app)"
    argv: tuple[str, ...]  # command + args, expanded; () when the image's own entrypoint runs
    environment: tuple[str, ...] = ()  # the literal env entries, "NAME=VALUE", in order
    interactive: bool = False  # stdin or tty: a session whose input is typed later
    ephemeral: bool = False  # an ephemeral container (kubectl debug)

    @property
    def entrypoint(self) -> bool:
        """Neither command nor args: the image's entrypoint runs, and the request does not show what it is."""
        return not self.argv

    def analysed_argv(self) -> tuple[str, ...]:
        """The argv as the exec analysis should see it: started with its environment (``env -- NAME=VALUE ...``)."""
        if not self.environment:
            return self.argv
        return ("env", "--", *self.environment, *self.argv)


@dataclass(frozen=True)
class PodCommands:
    """The containers a request would start, and why part of it cannot be told (empty when all is known)."""

    runs: tuple[ContainerRun, ...] = ()
    unknown: tuple[str, ...] = ()


@dataclass
class Reading:
    """Collects the runs of one request's body. ``whole_lists`` are the container lists whose entries are whole
    containers even in a merging patch (the new ephemeral containers of ``pods/ephemeralcontainers``)."""

    merging: bool = False
    whole_lists: frozenset[str] = frozenset()
    runs: list[ContainerRun] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    chars: int = 0

    def result(self) -> PodCommands:
        return PodCommands(tuple(self.runs), tuple(self.unknown))

    def doubt(self, reason: str) -> None:
        self.unknown.append(reason)

    def pod_spec_at(self, document: object, path: Iterable[str], where: str) -> None:
        """Read the pod spec found under ``path`` in ``document`` (nothing when a level is absent or null)."""
        node = document
        for key in path:
            if node is None:
                return
            if not isinstance(node, Mapping):
                self.doubt(f"{where} is not an object")
                return
            node = node.get(key)
            where = f"{where}.{key}" if where else key
        self.pod_spec(node, where)

    def pod_spec(self, spec: object, where: str) -> None:
        if spec is None:
            return
        if not isinstance(spec, Mapping):
            self.doubt(f"{where} is not an object")
            return
        for name in CONTAINER_LISTS:
            self.container_list(spec.get(name), f"{where}.{name}", name)

    def container_list(self, entries: object, where: str, list_name: str) -> None:
        if entries is None:
            return
        if not isinstance(entries, list):
            self.doubt(f"{where} is not a list")
            return
        for index, entry in enumerate(entries):
            self.container(entry, f"{where}[{index}]", list_name)

    def container(self, entry: object, where: str, list_name: str, *, merging: bool | None = None) -> None:
        """Read one container entry; ``merging`` (default: the reading's) says it is merged into a stored one."""
        if not isinstance(entry, Mapping):
            self.doubt(f"{where} is not an object")
            return
        if entry.get("$patch") == "delete":
            return  # a merging patch's removal of the container: nothing will run
        name = entry.get("name")
        label = f"{where} ({name})" if isinstance(name, str) and name else where
        ephemeral = list_name == "ephemeralContainers"
        try:
            for run in _handler_runs(entry, label, ephemeral=ephemeral):  # whatever the entry's command says
                self._add(run)
        except _Unreadable as problem:
            self.doubt(str(problem))
        partial = (self.merging if merging is None else merging) and list_name not in self.whole_lists
        if partial and not self._whole_line(entry, label):
            return
        try:
            self._add(_run(entry, label, ephemeral=ephemeral))
        except _Unreadable as problem:
            self.doubt(str(problem))

    def _add(self, run: ContainerRun) -> None:
        # What the exec analysis will read: the argv and the environment it starts with (each run its own copy).
        self.chars += sum(len(word) for word in run.analysed_argv())
        if self.chars > MAX_COMMAND_CHARS:
            self.doubt(f"the command lines of this request are longer than {MAX_COMMAND_CHARS} characters together")
            return
        self.runs.append(run)

    def _whole_line(self, entry: Mapping[str, object], label: str) -> bool:
        """For an entry merged into a stored container: whether it says the whole command line (False: skip it,
        with a doubt when it changes what runs)."""
        directives = sorted(key for key in entry if key.startswith("$"))
        if directives:
            self.doubt(f"{label} carries the patch directive {directives[0]}, which the gateway does not evaluate")
            return False
        touched = _RUN_FIELDS.intersection(entry)
        if not touched:
            return False  # this entry does not change what the container runs
        if touched >= _WHOLE_LINE:
            return True
        self.doubt(
            f"{label} sets {', '.join(sorted(touched))} but not both command and args: the rest of its command line "
            "is in the stored object, which the gateway does not see; put both command and args in the patch "
            "([] for none), or replace the whole object"
        )
        return False


class _Unreadable(Exception):
    """A container entry whose command line cannot be told; the message says where and why."""


def _run(entry: Mapping[str, object], label: str, *, ephemeral: bool) -> ContainerRun:
    environment, values = _environment(entry.get("env"), label)
    words = [*_strings(entry.get("command"), f"{label}.command"), *_strings(entry.get("args"), f"{label}.args")]
    try:
        argv = tuple(expand(word, values.lookup) for word in words)
    except UnknownVariable as unknown:
        raise _Unreadable(
            f"{label} refers to $({unknown.name}) in its command line, which the kubelet fills in from the "
            "container's environment at run time, and the request does not give it a literal env value"
        ) from None
    interactive = bool(entry.get("stdin")) or bool(entry.get("tty"))
    return ContainerRun(label, argv, environment, interactive, ephemeral)


def _handler_runs(entry: Mapping[str, object], label: str, *, ephemeral: bool) -> list[ContainerRun]:
    """The hooks' and exec probes' command lines of a container entry (none of them interactive)."""
    runs: list[ContainerRun] = []
    read: tuple[tuple[str, ...], _Values] | None = None  # the env, read at the first handler with a command
    for path in _HANDLERS:
        node: object = entry
        where = label
        for key in (*path, "exec"):
            if node is None:
                break
            if not isinstance(node, Mapping):
                raise _Unreadable(f"{where} is not an object")
            node = node.get(key)
            where = f"{where}.{key}"
        if node is None:
            continue
        if not isinstance(node, Mapping):
            raise _Unreadable(f"{where} is not an object")
        words = _strings(node.get("command"), f"{where}.command")
        if not words:
            continue
        if read is None:
            read = _environment(entry.get("env"), label)
        environment, values = read
        expanded = tuple(expand(word, values.known.get) for word in words)  # unknown names stay as written
        for argv in dict.fromkeys((tuple(words), expanded)):
            runs.append(ContainerRun(f"{label}.{'.'.join(path)}", argv, environment, False, ephemeral))
    return runs


def _strings(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(word, str) for word in value):
        raise _Unreadable(f"{where} is not a list of strings")
    return list(value)


@dataclass
class _Values:
    """The value of each environment variable a container is given literally (None: unknown until run time)."""

    known: dict[str, str | None] = field(default_factory=dict)

    def lookup(self, name: str) -> str | None:
        """For :func:`expand`: a name not given a literal value may still come from ``envFrom``, a ``valueFrom``
        or the service links at run time, so it is unknown, never "undefined"."""
        value = self.known.get(name)
        if value is None:
            raise UnknownVariable(name)
        return value


def _environment(env: object, label: str) -> tuple[tuple[str, ...], _Values]:
    """The literal ``NAME=VALUE`` entries (expanded in order, as the kubelet does; a value whose references
    cannot be told is kept as written), and the value of each name."""
    values = _Values()
    entries: list[str] = []
    for index, item in enumerate(_objects(env, f"{label}.env")):
        name, value = item.get("name"), item.get("value")
        if not isinstance(name, str) or not isinstance(value, (str, type(None))):
            raise _Unreadable(f"{label}.env[{index}] is not a name with a string value")
        if value is None or "valueFrom" in item:
            if carries_code(name):
                raise _Unreadable(
                    f"{label}.env[{index}] gives {name}, which carries code (see the exec guardrail), a value only "
                    "known at run time (valueFrom): give it a literal value, or none"
                )
            values.known[name] = None
            continue
        try:
            expanded: str | None = expand(value, values.lookup)
        except UnknownVariable:
            expanded = None
        values.known[name] = expanded
        entries.append(f"{name}={value if expanded is None else expanded}")
    return tuple(entries), values


def _objects(value: object, where: str) -> list[Mapping[str, object]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Unreadable(f"{where} is not a list of objects")
    objects: list[Mapping[str, object]] = []
    for item in value:
        if not isinstance(item, Mapping):
            raise _Unreadable(f"{where} is not a list of objects")
        objects.append(item)
    return objects

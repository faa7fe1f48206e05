"""JSON patch (RFC 6902) operations -> the container entries they write, for the exec guardrail.

Why this exists: ``kubectl patch --type=json`` writes containers by JSON pointer, so the command line may be spread
over several operations (``.../containers/0/command`` then ``.../containers/0/args``). :func:`read_json_patch` is
called by :mod:`._extract` with the pod spec's path for the request's kind, and feeds a :class:`Reading`:

* a value written at or above the pod spec (``/spec``, ``/spec/template``, the whole object) or as a whole container
  list or container is read as whole containers;
* operations on fields of one container (``/spec/containers/0/command``) are gathered per container and read like an
  entry of a merging patch: they must set both ``command`` and ``args``;
* ``move`` and ``copy`` into any of those places, edits inside ``command`` or ``args`` (``.../command/0``) or
  inside a hook or probe (``.../livenessProbe/exec``: a value at the hook or probe itself is read), an unknown
  operation, a malformed pointer or index: cannot be told. ``test`` is ignored; removals run nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubejit.domain.pod_commands._containers import HANDLER_FIELDS, Reading
from kubejit.domain.pod_commands._kinds import CONTAINER_LISTS

_WRITES = frozenset({"add", "replace"})
_KNOWN_OPS = frozenset({"add", "replace", "remove", "move", "copy", "test"})
_LINE_FIELDS = frozenset({"command", "args"})


def read_json_patch(operations: object, spec_path: tuple[str, ...], reading: Reading) -> None:
    if not isinstance(operations, list):
        reading.doubt("a JSON patch must be a list of operations")
        return
    fields: dict[tuple[str, str], dict[str, Any]] = {}
    for index, operation in enumerate(operations):
        _operation(operation, f"JSON patch operation {index}", spec_path, reading, fields)
    for (list_name, position), entry in fields.items():
        where = ".".join((*spec_path, f"{list_name}[{position}]"))
        reading.container(entry, where, list_name, merging=True)


def _operation(
    operation: object,
    where: str,
    spec_path: tuple[str, ...],
    reading: Reading,
    fields: dict[tuple[str, str], dict[str, Any]],
) -> None:
    if not isinstance(operation, Mapping) or operation.get("op") not in _KNOWN_OPS:
        reading.doubt(f"{where} is not an operation the gateway can evaluate")
        return
    kind = operation["op"]
    tokens = _pointer(operation.get("path"))
    if tokens is None:
        reading.doubt(f"{where} has a path that is not a JSON pointer")
        return
    if kind == "test":
        return
    depth = len(spec_path)
    if tuple(tokens[:depth]) == spec_path[: len(tokens)] and len(tokens) <= depth:
        _above_spec(kind, operation.get("value"), spec_path[len(tokens) :], where, reading)
        return
    if tuple(tokens[:depth]) != spec_path or tokens[depth] not in CONTAINER_LISTS:
        return  # elsewhere in the object: no container changes
    if kind in ("move", "copy"):
        reading.doubt(f"{where} {kind}s a value into {tokens[depth]}, which the gateway does not evaluate")
        return
    _in_list(kind, operation.get("value"), tokens[depth], tokens[depth + 1 :], where, reading, fields)


def _above_spec(kind: str, value: object, rest: tuple[str, ...], where: str, reading: Reading) -> None:
    """An operation on the pod spec itself or one of the objects that hold it."""
    if kind in _WRITES:
        reading.pod_spec_at(value, rest, f"{where}.value")
    elif kind in ("move", "copy"):
        reading.doubt(f"{where} {kind}s a value over the pod spec, which the gateway does not evaluate")


def _in_list(
    kind: str,
    value: object,
    list_name: str,
    rest: list[str],
    where: str,
    reading: Reading,
    fields: dict[tuple[str, str], dict[str, Any]],
) -> None:
    if kind == "remove" and len(rest) < 2:
        return  # a container or the whole list goes away: nothing new runs
    if not rest:
        reading.container_list(value, f"{where}.value", list_name)
        return
    if len(rest) == 1:
        reading.container(value, f"{where}.value", list_name, merging=False)
        return
    position, name = rest[0], rest[1]
    if not position.isdigit():
        reading.doubt(f"{where} edits a field of the container at index {position!r}")
        return
    entry = fields.setdefault((list_name, position), {})
    if len(rest) > 2:
        if name in _LINE_FIELDS or (name in HANDLER_FIELDS and kind != "remove"):
            reading.doubt(f"{where} edits part of {name} of {list_name}[{position}]; replace the whole {name} instead")
        entry.setdefault(name, None)  # part of env/envFrom changes: the entry touches it
        return
    entry[name] = None if kind == "remove" else value


def _pointer(path: object) -> list[str] | None:
    """The reference tokens of a JSON pointer (``~1`` is ``/``, ``~0`` is ``~``), or None if it is not one."""
    if not isinstance(path, str) or (path and not path.startswith("/")):
        return None
    if not path:
        return []
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]

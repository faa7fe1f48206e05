"""What ``kubejit ... --help`` shows in its type column: words a user knows, not Python's types.

Typer labels each parameter with its annotation (``<str>``, ``<list[str]>``, ``<bool>``, ``<path>``). ``main``
passes the built command tree through :func:`plain_metavars`, which gives every option that has no metavar of
its own the conventional one (``TEXT``, ``INTEGER``, ``PATH``, a choice's values; nothing for a flag) and
shows no type for an argument (its name in capitals, like ``PROFILE``, says it). A command that wants a better
word (``DURATION``) sets ``metavar=`` on its option, and that wins. tests/unit/test_cli_help.py reads every
command's help.
"""

from __future__ import annotations

from typing import Any

from typer import _click
from typer.core import TyperArgument, TyperOption


def plain_metavars(command: _click.Command) -> _click.Command:
    """``command`` and every subcommand, with plain metavars (changed in place; returned for chaining)."""
    context = _click.Context(command, info_name=command.name, **command.context_settings)
    help_option = command.get_help_option(context)  # made on first use, then kept: --help is a flag too
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else _word_for(param)
        elif isinstance(param, TyperArgument):
            if param.metavar is None and param.name:
                param.metavar = param.name.upper()
            setattr(param, "display_type_rich", _no_type)  # noqa: B010 - an instance's method, replaced
    for sub in getattr(command, "commands", {}).values():
        plain_metavars(sub)
    return command


def _no_type(**_context: Any) -> None:
    return None


def _word_for(param: TyperOption) -> str:
    described = param.type_descriptor
    if described.is_choice and described.choices:
        return "|".join(str(getattr(choice, "value", choice)) for choice in described.choices)
    if described.is_path or described.is_file:
        return "PATH"
    annotation = described.annotation
    element = annotation.__args__[0] if described.is_list and getattr(annotation, "__args__", None) else annotation
    if element is int or described.is_ranged:
        return "INTEGER"
    if element is float:
        return "NUMBER"
    return "TEXT"

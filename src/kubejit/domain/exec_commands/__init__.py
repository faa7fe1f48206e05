"""Which programs a ``kubectl exec`` would run, and whether one of them matches a denied command pattern.

Why this exists and who calls it
--------------------------------
The gateway sees the argv of every ``kubectl exec POD -- CMD...`` (the repeated ``command`` query parameters of
a ``pods/exec`` request) before the stream opens. The ``safe-exec`` guardrail (DESIGN.md section 5,
``exec: {denyCommands: ["rm -rf", "mkfs", ...]}``) must refuse command lines that run a denied command.
Looking only at ``argv[0]`` is bypassed with ``sh -c``, ``&&``, ``env`` or ``python -c`` (REFERENCES.md), so this
package works out every *simple command* the argv would run -- through shell strings, wrappers and
substitutions -- and matches each one against the patterns. The guardrail evaluation calls
:func:`parse_pattern` when it loads the policy and :func:`check_exec` before each exec. Pure: no I/O, stdlib.

Patterns and matching
---------------------
A pattern such as ``"rm -rf"`` is a program name and optional arguments (split like a shell would split them).
It matches a simple command when

* the program's basename (``/bin/rm``, ``./rm`` -> ``rm``) equals the pattern's program, or starts with the
  program followed by a dot (``mkfs`` matches ``mkfs.ext4``; ``ddate`` and ``mkfsx`` do not match);
* every pattern argument is present among the command's arguments, in any order. Single-dash arguments are
  short-option clusters on both sides (``-rf`` = ``-fr`` = ``-r -f``), except for programs whose single-dash
  options are long (``find -delete``). A small table gives the equivalents of common destructive commands
  (rm: ``-R`` = ``-r``, ``--recursive`` = ``-r``, ``--force`` = ``-f``; chmod/chown/chgrp ``--recursive``;
  shutdown ``--reboot``...), and long options may be abbreviated as getopt allows (``--rec``). Options count
  wherever they appear before ``--`` (GNU getopt permutes them); after ``--`` arguments are operands only.
  Arguments that are not options (``of=/dev/sda``) must appear literally.
* Patterns name programs, not effects: ``"reboot"`` does not match ``systemctl reboot``, ``halt`` or
  ``init 6``, and ``"mkfs"`` does not match ``mke2fs``; list those as patterns of their own.

If an argument is only known at run time (``$X``, ``"$@"``, ``$(...)``, brace expansion, a glob that may expand
to a file named ``-f``, or the input that ``xargs`` appends) and the literal arguments do not already complete
the pattern, the command *cannot be checked* (see below).

What is looked through
----------------------
* POSIX-family shells (sh, bash, dash, zsh, ash, ksh, mksh, yash, busybox sh, ...) with ``-c STRING`` and any
  other options (``-ec``, ``-lc``, ``--norc -c``, ``-o pipefail -c``). The string is parsed as shell: ``;``
  ``&&`` ``||`` ``|`` ``&`` newlines, ``( )``, ``{ ; }``, ``if/then/while/do/case/for``, functions,
  ``$(...)``, backticks, ``<(...)`` (recursively), quoting and escapes (``"r"m``, ``r\\m``, ``'rm'``,
  ``$'\\x72m'`` are all ``rm``), comments, here-documents (whose unquoted bodies may hold substitutions).
* Wrappers whose command is found by their own option syntax: ``env`` (incl. ``-S``), leading ``VAR=val``,
  ``exec``, ``command``, ``builtin``, ``coproc``, ``time``, ``nice``, ``nohup``, ``timeout``, ``stdbuf``,
  ``ionice``, ``setsid``, ``chroot``, ``taskset``, ``chrt``, ``sudo``, ``doas``, ``su -c``, ``runuser``,
  ``gosu``, ``su-exec``, ``pkexec``, ``nsenter``, ``unshare``, ``busybox``/``toybox`` applets, ``xargs`` (the
  command it runs, with unknown appended arguments), ``find -exec/-execdir/-ok/-okdir``, ``watch`` (its
  command is a ``sh -c`` string unless ``-x``), ``flock FILE CMD`` / ``flock FILE -c STRING``,
  ``script -c``, ``sg``, ``capsh --``, ``eval`` and ``trap`` of literal text, ``mapfile -C``.
* Loosely known wrappers (strace, ltrace, valgrind, prlimit, setpriv, systemd-run, tini, dumb-init, ...): every
  operand position is tried as the start of the command. The same is done when a known wrapper is given an
  option this package does not know.
* ``find -delete`` is *not* treated as ``rm -rf``: a policy that wants to deny it says ``"find -delete"``.
* Text that only *might* be code -- ``$(...)`` or backticks inside single quotes (bash evaluates stored text
  in arithmetic subscripts and prompt expansion), ``((...))``, which dash reads as nested subshells, and the
  inside of ``[[ ... ]]``, where dash (which has no ``[[``) separates commands at ``&&``, ``||`` and
  newlines -- is parsed too; commands found there count, but doubt there does not make the argv
  unresolvable. Wherever the shell's reading is uncertain, the parser errs toward finding more commands.

Cannot be checked (``Unresolvable``; denied when ``fail_closed``, which is the default)
------------------------------------------------------------------------------------------
A program name built at run time (``$X``, ``${X}``, ``$(...)``, globs such as ``/bin/r?``, brace expansion),
``eval`` of non-literal text, ``source``/``.`` of a file, ``sh FILE``, a shell reading its commands from a pipe,
redirect or here-document, ``alias NAME=...`` and ``hash -p`` (they redefine command names), inline code of
other languages (``python -c``, ``perl -e``, ``ruby -e``, ``node -e``, ``php -r``, ``lua -e``, ``vim -c``,
``gdb -ex``, ...; awk programs that call ``system()``, use a pipe ``|`` or an indirect call ``@``), non-POSIX
shells with code (fish, csh, pwsh), nesting deeper than :data:`MAX_DEPTH`, argv longer than
:data:`MAX_ARGV_CHARS`, and command lines that expand to more than :data:`MAX_COMMANDS` commands.
Patterns cannot see inside other languages: a policy that must permit ``python -c`` cannot use ``fail_closed``.
A program or script file run by an interpreter (``python3 manage.py``) is opaque like any binary, and allowed.
Known false alarms, all denied under ``fail_closed``: an awk regular expression with ``|``, ``alias x=...``,
a leading glob such as ``rm -r *`` (write ``./*``) and shell scripts started as ``sh FILE``.
With no patterns there is nothing to check, and nothing is unresolvable.

Interactive shells
------------------
A shell (or interpreter REPL) started with no command and reading the user's terminal -- ``sh``, ``bash -i``,
``/bin/bash``, ``sudo -i``, ``su -``, ``chroot DIR`` -- is allowed with ``interactive=True`` and the reason
:data:`INTERACTIVE_REASON`: its later keystrokes are not visible. The caller decides whether to allow that.

What it deliberately cannot see (for the security docs)
-------------------------------------------------------
A deny-list of command names is a tripwire against accidents and casual misuse, not a sandbox. Not visible:
a renamed or copied binary (``cp /bin/rm /tmp/x; /tmp/x -rf /``, ``PATH`` tricks, symlinks); programs and
scripts already in the image or written by an earlier command (``./cleanup.sh``); commands sent later on
the stdin of an interactive session; code in other languages; programs that run commands given in their
options or input (``sed e``, ``tar --to-command``, ``rsync -e``, ``git -c core.sshCommand``, ``less !``,
``vim :!``, ``tmux``, ``parallel``, ``at``, ``ssh``, zsh glob qualifiers ``*(e:...:)``); shell text assembled
at run time (variables, ``printf`` output fed to ``eval``); ``$SHELL`` pointing at a non-POSIX program for
``flock -c``/``script -c``/``sudo -s``; and option *values* are not normalized (``kill -9`` vs ``kill -s KILL``).

How the package is cut
----------------------
This module is the public API; the work is done behind it, in private modules (callers import from here):

* ``_check`` -- :func:`check_exec`, :func:`simple_commands` and their results;
* ``_matching`` -- :func:`parse_pattern` and the comparison of commands with patterns;
* ``_analyzer`` -- the hub: records each simple command and hands it to its program's handler;
* ``_parser`` and ``_lexer`` (with ``_ansi_c``) -- the shell reader: command lists, then words and expansions;
* ``_handlers`` -- program name -> handler, over ``_wrappers`` (sudo, env, xargs, ...), ``_code_runners``
  (su -c, flock -c, eval, ...), ``_shells`` (sh -c) and ``_interpreters`` (python -c, awk, ...);
* ``_option_specs`` -- the getopt-style option tables the wrappers are described with;
* ``_words`` -- the words, context and limits they all share.
"""

from kubejit.domain.exec_commands._check import ExecVerdict, Unresolvable, check_exec, simple_commands
from kubejit.domain.exec_commands._matching import CommandPattern, parse_pattern
from kubejit.domain.exec_commands._words import (
    INTERACTIVE_REASON,
    MAX_ARGV_BYTES,
    MAX_ARGV_CHARS,
    MAX_ARGV_WORDS,
    MAX_COMMANDS,
    MAX_DEPTH,
    MAX_STEPS,
    MAX_SUFFIXES,
    MAX_WRAPPERS,
)

__all__ = [
    "INTERACTIVE_REASON",
    "MAX_ARGV_BYTES",
    "MAX_ARGV_CHARS",
    "MAX_ARGV_WORDS",
    "MAX_COMMANDS",
    "MAX_DEPTH",
    "MAX_STEPS",
    "MAX_SUFFIXES",
    "MAX_WRAPPERS",
    "CommandPattern",
    "ExecVerdict",
    "Unresolvable",
    "check_exec",
    "parse_pattern",
    "simple_commands",
]

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
* Shells and interpreters under versioned or suffixed names (``python3.13``, ``python3.11-dbg``, ``pypy3``,
  ``bash-static``, ``bash5.2``, ``perl5.36``, ``php8.2-cli``, ``/usr/bin/ruby3.2``) are the programs they name:
  one normalisation (:mod:`._program_names`) strips versions and build suffixes.
* Environment variables that are code, wherever they are set (``NAME=VALUE cmd``, a ``NAME=VALUE`` command
  of its own, ``env`` and ``env -S``, ``sudo NAME=VALUE``, ``export``/``declare``/``typeset``/``local``/
  ``readonly``, ``--setenv=NAME=VALUE`` of loose wrappers), and whatever program receives them, since the
  environment is inherited: exported functions (``BASH_FUNC_ls%%=() {...}``) and ``PROMPT_COMMAND`` are
  parsed as shell code; prompts (``PS0``-``PS4``, zsh ``PROMPT``...) are read as expanded text, octal
  escapes decoded; ``BASH_ENV`` and ``ENV`` are expanded (their substitutions count) and are doubts, since
  they name a file to run; ``SHELLOPTS``, ``BASHOPTS``, ``ZDOTDIR``, ``FPATH``, ``PYTHONSTARTUP``,
  ``PERL5OPT``, ``PERL5DB``, ``RUBYOPT``, ``LUA_INIT``, ``VIMINIT``/``EXINIT``, ``LD_PRELOAD``,
  ``LD_AUDIT``, ``LD_LIBRARY_PATH`` and ``GCONV_PATH`` are doubts; ``NODE_OPTIONS`` and the Java option
  variables are doubts when they load code (``--require``, ``--import``, ``-javaagent``...);
  ``PYTHONINSPECT`` makes python interactive. Any other value holding ``$(`` or backticks is read
  speculatively (bash evaluates stored text in arithmetic subscripts). Ordinary variables are untouched.
* Script operands that are stdin (``bash /dev/stdin``, ``sh /proc/self/fd/0``, ``python3 -``,
  ``perl /dev/fd/0``, ``/dev/tty``) are interactive sessions like ``bash -s``; an interpreter's program
  read from another descriptor (``python3 /dev/fd/3 3<<EOF``) cannot be checked.
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
shells with code (fish, csh, pwsh), environment variables that load code the command line does not show
(see below), nesting deeper than :data:`MAX_DEPTH`, argv over :data:`MAX_ARGV_BYTES` (UTF-8, each argument
with its NUL) or :data:`MAX_ARGV_WORDS` arguments, command lines that expand to more than
:data:`MAX_COMMANDS` commands, and any analysis that needs more than :data:`MAX_STEPS` steps (a
deterministic work budget: text read and re-read, look-ahead scans, command words), so that no input keeps
the caller busy for long.
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
at run time (variables, ``printf`` output fed to ``eval``); variables assigned at run time by ``read``,
``printf -v``, ``mapfile``, ``getopts``, ``for`` or ``${NAME:=...}`` (a ``read PS4`` is not seen);
environment variables that other programs read commands from (``PAGER``, ``EDITOR``, ``LESSOPEN``,
``GIT_SSH_COMMAND``...) or that point at code in files (``PATH``, ``PYTHONPATH``, ``PERL5LIB``, ``NODE_PATH``);
the environment the container already has; ``$SHELL`` pointing at a non-POSIX program for
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
* ``_environment`` -- environment variables that carry code (BASH_ENV, exported functions, prompts, ...);
* ``_program_names`` -- versions and build suffixes of program names; ``_stdin_paths`` -- operands that are stdin;
* ``_words`` -- the words, context and limits they all share.
"""

from kubejit.domain.exec_commands._check import ExecVerdict, Unresolvable, check_exec, simple_commands
from kubejit.domain.exec_commands._environment import carries_code
from kubejit.domain.exec_commands._matching import CommandPattern, parse_pattern
from kubejit.domain.exec_commands._words import (
    INTERACTIVE_REASON,
    MAX_ARGV_BYTES,
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
    "MAX_ARGV_WORDS",
    "MAX_COMMANDS",
    "MAX_DEPTH",
    "MAX_STEPS",
    "MAX_SUFFIXES",
    "MAX_WRAPPERS",
    "CommandPattern",
    "ExecVerdict",
    "Unresolvable",
    "carries_code",
    "check_exec",
    "parse_pattern",
    "simple_commands",
]

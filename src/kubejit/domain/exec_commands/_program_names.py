"""One normalisation of program names: ``python3.13``, ``bash-static`` and ``perl5.36`` are python, bash, perl.

Why this exists: images install shells and interpreters under versioned or suffixed names (``python3.11-dbg``,
``pypy3``, ``bash5.2``, ``busybox-static``, ``ruby3.2``, ``php8.2-cli``, ``lua5.4``, ``ksh93``). A table of
every spelling is never complete, so the handler registry (:mod:`._handlers`), the interpreter table
(:mod:`._interpreters`) and ``su -s`` (:mod:`._code_runners`) look a name up as written and then by its
family, which :func:`program_family` computes the same way for all of them. A name that normalises to a
known program is handled as that program: at worst more commands are looked into, never fewer.
"""

from __future__ import annotations

import re
from functools import lru_cache

_BUILD_SUFFIX = re.compile(r"(?:[-_.](?:static|dbg|debug|cli|bin|real|orig|distrib|minimal|default))+$")
"""``-static``, ``-dbg``, ``.real``, ... (one or more) at the end of a name."""
_VERSION_SUFFIX = re.compile(r"[-_.]?\d+(?:\.\d+)*[a-z]{0,2}$")
"""``3``, ``3.11``, ``-5.2``, ``5.36.0``, ``3.13t`` (a version with ABI flags) at the end of a name."""


@lru_cache(maxsize=1024)
def program_family(name: str) -> str:
    """``name`` without its version and build suffixes; the name itself when it has none.

    ``python3.11-dbg`` -> ``python``, ``bash-static`` -> ``bash``, ``php8.2-cli`` -> ``php``, ``ksh93`` -> ``ksh``,
    ``pypy3`` -> ``pypy``. A name that is only a version (``3.11``) is kept as it is.
    """
    stem = name
    for _ in range(2):  # bash5.2-static, python3-dbg: a build suffix may follow a version, or precede it
        stem = _BUILD_SUFFIX.sub("", stem)
        stem = _VERSION_SUFFIX.sub("", stem)
    return stem or name

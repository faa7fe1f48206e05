"""How the command line reports kubejit's errors: a message on stderr and the exit code of DESIGN.md 4.

0 success, 1 refused by policy or not found, 2 bad input or usage, 3 cannot reach a server.
"""

from __future__ import annotations

from kubejit.domain.errors import (
    Conflict,
    InvalidInput,
    KubejitError,
    NotFound,
    Refused,
    Unauthenticated,
    Unavailable,
)

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

_EXIT_CODES: tuple[tuple[type[KubejitError], int], ...] = (
    (InvalidInput, EXIT_USAGE),
    (Refused, EXIT_REFUSED),
    (NotFound, EXIT_REFUSED),
    (Conflict, EXIT_REFUSED),
    (Unauthenticated, EXIT_REFUSED),
    (Unavailable, EXIT_UNREACHABLE),
)


def exit_code_for(error: KubejitError) -> int:
    for kind, code in _EXIT_CODES:
        if isinstance(error, kind):
            return code
    return EXIT_REFUSED

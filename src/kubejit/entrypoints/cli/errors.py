"""How the command line reports kubejit's errors: a message on stderr and the exit code of DESIGN.md 4.

0 success, 1 refused by policy or not found, 2 bad input or usage, 3 cannot reach a server. The codes and which
error gets which live in ``kubejit.domain.errors`` (the one error table); this module names them for the CLI.
"""

from __future__ import annotations

from kubejit.domain.errors import EXIT_OK, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_USAGE, exit_code_for

__all__ = ["EXIT_OK", "EXIT_REFUSED", "EXIT_UNREACHABLE", "EXIT_USAGE", "exit_code_for"]

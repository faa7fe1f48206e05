"""Namespace names and patterns as a profile lists them (``payments-*``): what a pattern may look like, and
how one matches a namespace.

Why it exists: both the model (:meth:`Profile.allows_namespace <kubejit.domain.policy.Profile.allows_namespace>`)
and the checks (``_checks``, which refuse a pattern that is not a namespace name) need the same rules; compiled
patterns are cached here, once per pattern.
"""

from __future__ import annotations

import re

NAMESPACE_PATTERN = re.compile(r"[a-z0-9*]([-a-z0-9*]*[a-z0-9*])?")
_PATTERN_CACHE: dict[str, re.Pattern[str]] = {}


def _namespace_pattern(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERN_CACHE.get(pattern)
    if compiled is None:
        compiled = re.compile("[-a-z0-9]*".join(re.escape(part) for part in pattern.split("*")))
        _PATTERN_CACHE[pattern] = compiled
    return compiled

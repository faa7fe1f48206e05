"""The one error hierarchy of kubejit.

Every layer raises these; each entrypoint maps them to its own language: the HTTP API to a status code,
the CLI to an exit code (DESIGN.md section 4), the gateway to a Kubernetes ``Status``. A message is always
written for the person who has to act on it: what is wrong, where, and what to do.
"""

from __future__ import annotations


class KubejitError(Exception):
    """Base of every error kubejit raises on purpose."""


class InvalidInput(KubejitError):
    """The caller sent something malformed: a bad file, argument, body or token shape."""


class Refused(KubejitError):
    """Well-formed, but policy says no."""


class NotFound(KubejitError):
    """The thing asked about does not exist (or the caller may not know that it does)."""


class Unavailable(KubejitError):
    """A server or process kubejit depends on cannot be reached or did not start."""


class Conflict(KubejitError):
    """The request or grant is not in a state that allows this (e.g. approving an expired request)."""


class StaleWrite(Conflict):
    """Someone else changed the record since it was read; read it again and retry."""


class Unauthenticated(KubejitError):
    """No valid credentials: a missing, expired, forged or foreign token."""

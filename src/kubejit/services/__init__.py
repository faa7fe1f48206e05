"""Use cases (submit, review, activate, expire, revoke, audit): the domain driven through ports."""

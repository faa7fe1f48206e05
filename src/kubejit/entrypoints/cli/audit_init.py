"""``kubejit audit checkpoint --init --config FILE``: the operator's first checkpoint over an existing trail.

The broker never signs a first checkpoint over a trail that already has events (deleting the checkpoint
after cutting off the trail's end would otherwise get the shortened trail signed as if nothing happened), and
refuses to start on such a trail. This command is the explicit step: it runs where the broker runs, with the
broker's config (its database, signing key and checkpoint store), checks that the chain holds together, and
signs its head. ``audit`` registers it as ``kubejit audit checkpoint``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from kubejit.adapters.clock import SystemClock
from kubejit.adapters.store import SqlStore
from kubejit.config import BrokerConfig, load_config
from kubejit.domain.audit import timestamp
from kubejit.domain.errors import InvalidInput
from kubejit.domain.policy import AccessPolicy
from kubejit.ports import CheckpointStore
from kubejit.services.audit import AuditService

_out = Console(highlight=False, soft_wrap=True)


def checkpoint(
    config: Annotated[Path, typer.Option("--config", help="The broker config file (kind: BrokerConfig).")],
    init: Annotated[bool, typer.Option("--init", help="Sign the first checkpoint of a trail that has none.")] = False,
    database_url: Annotated[str | None, typer.Option("--database-url", help="Overrides databaseUrl.")] = None,
) -> None:
    """Sign the first audit checkpoint over an existing trail (an explicit operator step; see --init)."""
    if not init:
        raise InvalidInput(
            "kubejit audit checkpoint only initialises: the broker writes every later checkpoint. Pass --init, "
            "after checking the trail, to sign the first checkpoint of a trail that has none"
        )
    settings = load_config(config)
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    store = SqlStore(settings.database_url)
    try:
        store.migrate()
        no_policy = AccessPolicy(name="(checkpoint --init)", profiles=())  # --init reads no policy
        audit = AuditService(lambda: no_policy, store, SystemClock(), _store(settings))
        signed = audit.initial_checkpoint()
    finally:
        store.dispose()
    _out.print(f"signed the first audit checkpoint: event {signed.seq} {signed.hash[:16]}... at {timestamp(signed.at)}")


def _store(settings: BrokerConfig) -> CheckpointStore:
    """The checkpoint store the broker with these settings uses (kubejit.bootstrap's choice)."""
    from kubejit.bootstrap import checkpoint_store, kube_client

    store = checkpoint_store(settings, lambda: kube_client(settings.kubernetes, field_manager="kubejit-broker"))
    if store is None:
        raise InvalidInput(f"{settings.policy_file.parent}: the config names no audit checkpoint store")
    return store

"""``kubejit serve --config FILE``: run the broker (API, grant keeper, checkpoints) until SIGINT/SIGTERM.

SIGHUP reloads the policy file; a policy that fails validation or review is refused and the previous one
stays in force (both outcomes are audited).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from kubejit.config import load_config


def serve(
    config: Annotated[Path, typer.Option("--config", help="The broker config file (kind: BrokerConfig).")],
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="KUBEJIT_DATABASE_URL",
            show_envvar=True,
            help="Overrides databaseUrl, e.g. postgresql+psycopg://... (the environment keeps it out of ps).",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the kubejit broker."""
    import uvicorn

    from kubejit.bootstrap import build_broker
    from kubejit.entrypoints.api.app import create_app

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_config(config)
    if database_url:
        settings = settings.model_copy(update={"database_url": database_url})
    broker = build_broker(settings)
    app = create_app(broker)
    # Reloading reads the file and the cluster: do it beside the server, not inside the signal handler.
    signal.signal(signal.SIGHUP, lambda *_: threading.Thread(target=broker.reload_policy, daemon=True).start())
    listen = settings.listen
    broker.start()
    try:
        uvicorn.run(
            app,
            host=listen.address,
            port=listen.port,
            ssl_certfile=str(listen.tls_cert_file) if listen.tls_cert_file else None,
            ssl_keyfile=str(listen.tls_key_file) if listen.tls_key_file else None,
            log_level="warning",
            access_log=False,
        )
    finally:
        broker.stop()

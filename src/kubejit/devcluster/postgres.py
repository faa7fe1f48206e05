"""A throwaway PostgreSQL server from Debian's binaries, for tests and benchmarks of the HA setup.

Started in a temporary directory on a free 127.0.0.1 port with trust authentication and fsync off (never for
real data), as the ``postgres`` user when run as root, and removed again at exit.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kubejit.devcluster.process import free_port
from kubejit.domain.errors import Unavailable

INSTALL_HINT = (
    "PostgreSQL's server binaries are needed: install Debian's package (`apt-get install postgresql`), "
    "or point KUBEJIT_TEST_DATABASE_URL at a server (postgresql://USER@127.0.0.1:PORT/DB) where USER may "
    "create databases"
)


def postgres_bin() -> Path:
    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    found = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()]
    if not found:
        raise Unavailable(INSTALL_HINT)
    return max(found, key=version)


def _run(command: list[str], what: str, log: Path | None = None) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        server_log = log.read_text(errors="replace")[-4000:] if log is not None and log.exists() else ""
        raise Unavailable(f"could not {what} ({result.returncode}):\n{result.stdout}\n{result.stderr}\n{server_log}")


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """initdb + pg_ctl start in a temporary directory; yields the URL of its ``postgres`` database."""
    bin_dir = postgres_bin()
    as_postgres: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="kubejit-pg-"))
    if os.geteuid() == 0:  # the server refuses to run as root
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(workdir)
            raise Unavailable(f"running as root, but there is no `postgres` user; {INSTALL_HINT}") from None
        os.chown(workdir, owner.pw_uid, owner.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data = workdir / "data"
    port = free_port()
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={workdir} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    )
    pg_ctl = [*as_postgres, str(bin_dir / "pg_ctl"), "-D", str(data)]
    started = False
    try:
        _run(
            [*as_postgres, str(bin_dir / "initdb"), "-D", str(data), "-U", "kubejit", "--auth=trust", "-E", "UTF8"],
            "initialize a PostgreSQL data directory",
        )
        _run(
            [*pg_ctl, "-l", str(workdir / "server.log"), "-w", "-t", "60", "-o", options, "start"],
            "start PostgreSQL",
            log=workdir / "server.log",
        )
        started = True
        yield f"postgresql+psycopg://kubejit@127.0.0.1:{port}/postgres"
    finally:
        if started:
            subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True, timeout=60, check=False)
        shutil.rmtree(workdir, ignore_errors=True)

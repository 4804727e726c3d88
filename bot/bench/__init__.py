"""Load benchmarks of the platform pipeline: fakes of the outside world on 127.0.0.1, the real server."""


class BenchmarkError(RuntimeError):
    """The benchmark cannot run or cannot give honest figures; the message says why."""

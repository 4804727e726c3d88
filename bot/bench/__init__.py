"""Load benchmarks of the platform pipeline: fakes of the outside world on 127.0.0.1, the real server."""

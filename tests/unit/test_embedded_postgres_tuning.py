"""The embedded server's settings file: its size rule, and an include line written once."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.embedded_postgres import TUNING_FILE, available_memory_bytes, shared_buffers_mb, write_tuning

GIB = 1024**3


@pytest.mark.parametrize(
    ("memory_gib", "expected_mb"),
    [(0.5, 128), (2, 256), (4, 512), (8, 1024), (64, 1024)],
)
def test_shared_buffers_is_an_eighth_of_memory_between_128_mb_and_1_gb(memory_gib: float, expected_mb: int) -> None:
    assert shared_buffers_mb(int(memory_gib * GIB)) == expected_mb


def test_the_settings_file_is_included_once_however_often_the_server_starts(tmp_path: Path) -> None:
    conf = tmp_path / "postgresql.conf"
    conf.write_text("max_connections = 100\n")
    for _ in range(3):
        write_tuning(tmp_path, total_memory_bytes=4 * GIB)
    assert conf.read_text().count(TUNING_FILE) == 1
    assert conf.read_text().startswith("max_connections = 100\n")
    assert "shared_buffers = '512MB'" in (tmp_path / TUNING_FILE).read_text()


def test_a_container_limit_below_the_machine_memory_is_what_counts(tmp_path: Path) -> None:
    unlimited_v2, limited_v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    unlimited_v2.write_text("max\n")
    limited_v1.write_text(f"{GIB}\n")
    assert available_memory_bytes((unlimited_v2, tmp_path / "missing")) > GIB  # this machine has more than 1 GiB
    assert available_memory_bytes((unlimited_v2, limited_v1)) == GIB
    assert shared_buffers_mb(available_memory_bytes((limited_v1,))) == 128

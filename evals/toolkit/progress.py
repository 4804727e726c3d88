"""How a long measurement reports progress: the command line draws it as a bar."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]
"""Called with (stage, done, total)."""


def no_progress(stage: str, done: int, total: int) -> None:
    """For callers that show none."""

"""Small helpers for work started ahead of time that may turn out not to be needed."""

from __future__ import annotations

import asyncio
from typing import Any


def drop_outcome(future: asyncio.Future[Any]) -> None:
    """A done-callback for speculative work: its result or error is not wanted, so asyncio must not log
    "exception was never retrieved" when nobody awaits it."""
    if not future.cancelled():
        future.exception()

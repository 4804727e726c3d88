"""Keeping Python's cyclic garbage collector off what a server keeps for life.

A full collection walks every object the collector tracks. A server's modules, its embedding model and its
compiled statements live as long as the process: frozen (``gc.freeze``), they are out of its sight, and the
full collections that run about once a second under load stay short.
"""

from __future__ import annotations

import gc


def freeze_long_lived() -> None:
    """Collect what is garbage now, then freeze everything left, as the process's permanent generation."""
    gc.collect()
    gc.freeze()

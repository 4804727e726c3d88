"""Every module that defines tables, imported so ``Base.metadata`` is complete for Alembic."""

from __future__ import annotations

import importlib

# Add a module here when it defines tables; order does not matter.
MODEL_MODULES: tuple[str, ...] = (
    "knowledge.models",
    "knowledge.sources.models",
    "agent.models",
    "bot.models",
    "bot.access.models",
    "bot.limits.models",
)


def import_all_models() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)

"""The CLI imports only what a command needs: ``ask`` in extractive mode starts without LLM SDKs, web frameworks,
chat platforms or document parsers (each costs tenths of a second at every start)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow  # each test imports the CLI in a fresh Python process

NEVER_FOR_ASK = ["langchain", "openai", "fastapi", "starlette", "uvicorn", "discord", "slack_bolt", "pypdf", "bs4"]
NEVER_FOR_REGISTRATION = [*NEVER_FOR_ASK, "langchain_core", "langgraph", "sentry_sdk", "onnxruntime", "alembic"]


def imported_packages(*modules: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after importing ``modules`` in a fresh interpreter."""
    code = "import json, sys\n" + "".join(f"import {m}\n" for m in modules)
    code += "print(json.dumps(sorted({name.partition('.')[0] for name in sys.modules})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(done.stdout))


def test_registering_the_commands_imports_no_heavy_package() -> None:
    assert imported_packages("bot.cli") & set(NEVER_FOR_REGISTRATION) == set()


def test_what_ask_runs_imports_no_llm_sdk_web_framework_or_parser() -> None:
    # The modules `threadwise ask` imports on its way to an extractive answer (bot/cli/app.py, agent_service).
    used = imported_packages("bot.cli", "bot.services", "agent.service", "core.schema")
    assert used & set(NEVER_FOR_ASK) == set()


def test_the_knowledge_commands_import_no_agent() -> None:
    # `knowledge_base` (bot/cli/app.py) builds through bot.services, whose agent is imported only when built.
    assert imported_packages("bot.cli", "bot.services", "core.schema") & {"agent", "langgraph"} == set()

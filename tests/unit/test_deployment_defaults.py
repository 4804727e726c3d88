"""The composed deployment runs in production: nothing a user copies from .env.example can undo that."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT


def _active_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_env_example_leaves_environment_to_the_image() -> None:
    # compose's env_file would put it over the image's ENVIRONMENT=production.
    active = _active_lines((REPO_ROOT / ".env.example").read_text())
    assert not [line for line in active if line.startswith("ENVIRONMENT=")]


def test_the_image_defaults_to_production() -> None:
    assert re.search(r"^\s+ENVIRONMENT=production\b", (REPO_ROOT / "Dockerfile").read_text(), re.M)


def test_compose_pins_production_and_requires_an_admin_token() -> None:
    active = _active_lines((REPO_ROOT / "docker-compose.yml").read_text())
    # `environment:` entries win over env_file in compose.
    assert "ENVIRONMENT: production" in active
    token = [line for line in active if line.startswith("ADMIN_TOKEN:")]
    assert len(token) == 1 and '"${ADMIN_TOKEN:?' in token[0] and "set ADMIN_TOKEN in .env" in token[0]

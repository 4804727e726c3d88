"""The whole HTTP API fuzzed from its own OpenAPI schema (schemathesis), against the real app and database:
no request, valid or not, may get a 5xx or a response its schema does not describe."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
import schemathesis.checks
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.generation.case import Case
from schemathesis.python.asgi import shutdown_lifespans

from bot.web.app import create_app
from core.settings import load_settings
from tests.integration.helpers.api import ADMIN_TOKEN

EXAMPLES = 60
"""Per generation mode and set of headers: the four cases of a run take about 30 s together."""
BASE_URL = "http://127.0.0.1"  # a loopback name: served whatever WEB_ALLOWED_HOSTS says
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]


@dataclass
class Tally:
    examples: int = 0
    failures: list[str] = field(default_factory=list)


@pytest.fixture
def app(request: pytest.FixtureRequest, database_url_text: str) -> Iterator[FastAPI]:
    token: str | None = request.param
    admin = {"token": ADMIN_TOKEN} if token else {}
    yield create_app(load_settings(database={"url": database_url_text}, agent={"min_similarity": 0.25}, admin=admin))
    shutdown_lifespans()  # schemathesis started the app's lifespan on its own event loop thread


def fuzz(app: FastAPI, mode: GenerationMode, headers: dict[str, str]) -> Tally:
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app
    tally = Tally()

    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck), print_blob=True
    )
    @given(case=schema.as_strategy(mode))
    def run(case: Case[Any]) -> None:
        tally.examples += 1
        try:
            case.call_and_validate(base_url=BASE_URL, headers=headers, checks=CHECKS)
        except (Exception, FailureGroup) as error:  # kept, so the figures count every failure, not the first
            tally.failures.append(f"{case.as_curl_command(headers)}\n{error}")

    run()
    return tally


@pytest.mark.parametrize("app", [None, ADMIN_TOKEN], ids=["local-mode", "with-token"], indirect=True)
def test_the_api_never_fails_nor_breaks_its_schema(app: FastAPI, request: pytest.FixtureRequest) -> None:
    with_token = request.node.callspec.id == "with-token"
    header_sets: list[dict[str, Any]] = [{}, {"Authorization": f"Bearer {ADMIN_TOKEN}"}] if with_token else [{}]
    tallies = {
        (mode.value, bool(headers)): fuzz(app, mode, headers)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        for headers in header_sets
    }
    print({key: (tally.examples, len(tally.failures)) for key, tally in tallies.items()})  # the figures, with -s
    failures = [failure for tally in tallies.values() for failure in tally.failures]
    assert not failures, f"{len(failures)} failures; the first:\n" + "\n\n".join(failures[:3])

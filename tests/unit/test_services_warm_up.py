"""``build_services(warm_embedder=True)``: the embedding model loads on a thread while the agent is imported, and
closing the services waits for it."""

from __future__ import annotations

import threading

import pytest

from bot.services import build_services
from core.db import create_engine
from core.settings import load_settings
from knowledge.embeddings import LocalEmbedder
from tests.conftest import database_settings_for_tests

# Nothing connects: building the services opens no connection.
URL = "postgresql+asyncpg://nobody@127.0.0.1:9/nothing"


def _warm_up_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "embedder-warm-up"]


async def test_warm_embedder_loads_the_local_model_on_a_thread_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(database={"url": URL})
    url = settings.database.async_url()
    assert url is not None
    engine = create_engine(url, role="tests", database=database_settings_for_tests())
    calls: list[str] = []
    original = LocalEmbedder.warm_up

    def recording(self: LocalEmbedder) -> None:
        calls.append(threading.current_thread().name)
        original(self)

    monkeypatch.setattr(LocalEmbedder, "warm_up", recording)
    try:
        cold = build_services(settings, engine)
        await cold.aclose()
        assert calls == []
        services = build_services(settings, engine, warm_embedder=True)
        await services.aclose()
        # Closing waits for the loading: a process that ends inside onnxruntime's loading aborts (SIGABRT).
        assert not [thread for thread in _warm_up_threads() if thread.is_alive()]
    finally:
        await engine.dispose()
    assert calls == ["embedder-warm-up"]

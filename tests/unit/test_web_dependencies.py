"""Route dependencies are coroutines: reading the app's services must not cost a thread hop per request."""

from __future__ import annotations

import inspect

from bot.web import dependencies


def test_route_dependencies_run_on_the_event_loop() -> None:
    # FastAPI runs a plain `def` dependency in its thread pool: a thread hop per request for reading request.state
    # (Slack's ack p50 went from about 40 to 70 ms under `threadwise bench slack`).
    getters = [value for name, value in vars(dependencies).items() if name.startswith("get_") and callable(value)]
    assert len(getters) >= 9
    assert [g.__name__ for g in getters if not inspect.iscoroutinefunction(g)] == []

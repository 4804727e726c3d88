"""A fake Sentry ingest endpoint on 127.0.0.1, and no Sentry client left behind for the next test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sentry_sdk

from tests.fakes.sentry_ingest import FakeSentry, fake_sentry


@pytest.fixture
def sentry() -> Iterator[FakeSentry]:
    with fake_sentry() as fake:
        try:
            yield fake
        finally:
            client = sentry_sdk.get_client()
            client.close(timeout=2)  # the next test starts without Sentry
            sentry_sdk.get_global_scope().set_client(None)

"""Per-channel settings: cached reads, one database read for a burst of events from one channel."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.channels import ChannelChoice, ChannelSettingsStore
from core.db import create_sessionmaker


async def test_a_burst_from_one_channel_reads_its_settings_once(engine: AsyncEngine, tenant: str) -> None:
    store = ChannelSettingsStore(create_sessionmaker(engine))
    await store.update(tenant=tenant, platform="slack", channel="C1", by="U0ADMIN", mode="auto")

    burst = [store.get(tenant=tenant, platform="slack", channel=channel) for channel in ["C1"] * 20 + ["C2"] * 5]
    choices = await asyncio.gather(*burst)

    assert choices == [ChannelChoice(mode="auto")] * 20 + [ChannelChoice()] * 5
    assert store.reads == 2
    assert await store.get(tenant=tenant, platform="slack", channel="C1") == ChannelChoice(mode="auto")
    assert store.reads == 2  # cached

    await store.update(tenant=tenant, platform="slack", channel="C1", by="U0ADMIN", mode="off")
    assert (await store.get(tenant=tenant, platform="slack", channel="C1")).mode == "off"  # its own change at once
    assert store.reads == 3

"""Process-wide discord.py configuration: the endpoints (``DISCORD_API_URL``, ``DISCORD_GATEWAY_URL``) and quiet
voice warnings.

discord.py keeps these as class attributes, so they apply to every client in the process; with the default
settings the endpoints stay Discord's own.
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl

from core.settings import DiscordSettings


def apply_endpoints(settings: DiscordSettings) -> None:
    discord.http.Route.BASE = str(settings.api_url).rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)
    # Threadwise never joins voice channels: the warnings about missing voice libraries are noise in its logs.
    discord.VoiceClient.warn_nacl = False
    discord.VoiceClient.warn_dave = False

"""Commands only for members who may manage the server (``/threadwise``, ``/learn``).

``default_permissions`` hides such commands from everyone else, but a server can grant them to anyone in its
integration settings, so each cog checks the permission again with this.
"""

from __future__ import annotations

import discord


async def server_managers_only(interaction: discord.Interaction, refusal: str) -> bool:
    """Whether the member may manage the server; if not, ``refusal`` is the answer only they see."""
    if interaction.permissions.manage_guild:
        return True
    await interaction.response.send_message(refusal, ephemeral=True)
    return False

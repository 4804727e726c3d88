"""discord.py extensions, one concern each; every module has ``async def setup(bot)``."""

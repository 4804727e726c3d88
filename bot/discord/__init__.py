"""Discord: a discord.py bot whose cogs only enqueue, and a REST-only deliverer the worker posts answers with."""

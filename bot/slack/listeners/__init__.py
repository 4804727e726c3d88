"""Bolt listeners grouped by event type; each module has ``register(app, deps)``."""

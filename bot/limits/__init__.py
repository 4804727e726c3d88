"""Limits on what one person, one channel and one tenant may ask of the bot, shared by every replica through
PostgreSQL: questions a minute per user and per channel (fixed windows), answers at once per tenant (leases)."""

from bot.limits.service import Limits, Refusal, TenantBusyError

__all__ = ["Limits", "Refusal", "TenantBusyError"]

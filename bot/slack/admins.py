"""Who may change a channel's settings or verify answers: workspace admins and owners, and
``SLACK_ADMIN_USER_IDS``."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from core.logging import get_logger

log = get_logger(__name__)


async def is_admin(client: AsyncWebClient, user_id: str, admins: frozenset[str]) -> bool:
    if user_id in admins:
        return True
    try:
        info = await client.users_info(user=user_id)
    except SlackApiError as error:
        log.warning("slack users.info failed; treating the user as not an admin", error=error.response.get("error"))
        return False
    user = info.get("user") or {}
    return bool(user.get("is_admin") or user.get("is_owner"))

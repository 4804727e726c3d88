"""The limits on ``POST /api/v1/ask``: a question over one, or a tenant with all its answers under way, is a 429
problem with ``Retry-After``, before the agent is asked anything."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, status

from bot.access.principal import Principal
from bot.limits import Limits, Refusal, TenantBusyError
from bot.limits.service import LimitName
from bot.limits.slots import Lease
from bot.web.problems import Problem

TOO_MANY_REQUESTS_DOC: dict[int | str, dict[str, Any]] = {
    429: {
        "model": Problem,
        "description": "Over a limit (`LIMITS_*`): questions a minute per API key or per conversation, or the "
        "tenant's answers at once. `Retry-After` says in how many seconds to try again.",
    }
}


_DETAILS: dict[LimitName, str] = {
    "user": "this API key asked more than its {allowed} questions a minute; try again in {seconds} s",
    "channel": "this conversation had more than its {allowed} questions a minute; try again in {seconds} s",
    "tenant": "the tenant already has its {allowed} answers at once being written; try again in {seconds} s",
}


def too_many_requests(refusal: Refusal) -> HTTPException:
    detail = _DETAILS[refusal.limit].format(allowed=refusal.allowed, seconds=refusal.retry_after)
    return HTTPException(
        status.HTTP_429_TOO_MANY_REQUESTS, detail=detail, headers={"Retry-After": str(refusal.retry_after)}
    )


async def admit_question(
    limits: Limits, principal: Principal, *, platform: str, tenant: str, conversation: str
) -> None:
    """Count the question against its API key (the operator's token is no one person: not counted per user) and
    its conversation (the API's channel); raises the 429 when it is one too many."""
    refusal = await limits.check_question(
        platform=platform, tenant=tenant, channel=conversation, user=principal.key_prefix
    )
    if refusal is not None:
        raise too_many_requests(refusal)


async def take_answer_slot(limits: Limits, *, platform: str, tenant: str) -> Lease | None:
    """One of the tenant's answers at once (see ``Limits.take_answer_slot``); raises the 429 when none is free."""
    try:
        return await limits.take_answer_slot(platform=platform, tenant=tenant)
    except TenantBusyError as busy:
        raise too_many_requests(busy.refusal) from None

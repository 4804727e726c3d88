"""``GET /metrics``: Prometheus's text format (``ADMIN_TOKEN`` as a bearer token when it is set; no tenant's
API key: the figures are every tenant's).

Counters and histograms are kept as things happen (``core/metrics.py``); the queue's depth and oldest job are
read from the database at scrape time, so they are right even in a process that runs no worker.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.web.auth import require_operator
from bot.web.dependencies import QueueDep, SourcesDep
from core.logging import get_logger
from core.metrics import QUEUE_DEPTH, QUEUE_OLDEST_SECONDS, SOURCE_LAST_SUCCESS

log = get_logger(__name__)

router = APIRouter(tags=["operations"], dependencies=[Depends(require_operator)])


@router.get("/metrics", include_in_schema=False)
async def metrics(queue: QueueDep, sources: SourcesDep) -> Response:
    if queue is not None:
        try:
            QUEUE_DEPTH.set(await queue.depth())
            QUEUE_OLDEST_SECONDS.set(await queue.oldest_age_seconds() or 0.0)
        except Exception as error:  # the rest of the figures are still worth serving
            log.warning("queue figures unavailable", exc_info=error)
    try:
        for source in await sources.statuses():
            success = source.last_success_at.timestamp() if source.last_success_at else 0.0
            SOURCE_LAST_SUCCESS.labels(tenant=source.tenant, source=source.name, kind=source.kind).set(success)
    except Exception as error:
        log.warning("source figures unavailable", exc_info=error)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

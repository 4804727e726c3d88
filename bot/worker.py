"""The worker: takes questions off the durable queue, answers them with the agent, and delivers the answers.

Each job is one :class:`ChatEvent`. The worker shows the platform it is on it (``Deliverer.working``, while the
answer is already being written), streams the agent's answer into the platform at most once per
``QUEUE_UPDATE_INTERVAL``, the first time once the answer has taken that long (``Deliverer.update``), posts the
final answer with its sources (``Deliverer.deliver``) and ties the stored answer to the posted message, so
reactions on it count as feedback.

pgqueuer runs the jobs: each worker answers ``QUEUE_CONCURRENCY`` at once and holds up to as many again in
reserve, their questions already being embedded, so a finished answer's slot is taken at once (pgqueuer frees a
slot in the database only when it next records finished jobs, every 0.1 s or so). Each job is retried with
backoff when it fails (a deliverer's network error, a platform outage) up to ``QUEUE_RETRY_ATTEMPTS`` attempts,
and picked up by another worker when the one running it stops sending heartbeats for
``QUEUE_STALLED_AFTER_SECONDS`` (it died). Once the agent has replied, a retry or a re-run does not ask it again:
the reply is kept with the event and posted (see ``bot/queue.py``); once it is posted, a re-run does nothing. The
message a partial answer is shown in is stored as soon as it is posted, and a retaken job edits it
(``Deliverer.resume``): one visible answer per question, even across a crash.
Stopping a worker lets its jobs in progress and in reserve finish. A question that waited longer than
``QUEUE_MAX_AGE_SECONDS`` (the bot was down) gets an apology instead of a late answer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager, aclosing, nullcontext, suppress
from datetime import UTC, datetime, timedelta

from pgqueuer.core.executors import DatabaseRetryEntrypointExecutor, EntrypointExecutorParameters
from pgqueuer.domain.errors import FailingListenerError
from pgqueuer.domain.types import Channel, QueueExecutionMode
from pgqueuer.errors import RetryRequested
from pgqueuer.models import Job
from pgqueuer.qm import QueueManager
from pydantic import ValidationError

from agent.prefetch import QueryEmbedding
from agent.schemas import MAX_QUESTION_CHARS, AnswerReply, AnswerRequest, StreamFinal, without_unstorable
from agent.service import AgentService
from bot.events import ChatEvent, Deliverer, RecipientGone
from bot.first_run import FirstRunHelp
from bot.limits import Limits, TenantBusyError
from bot.queue import ANSWER_ENTRYPOINT, JobQueue
from core.logging import bound_context, get_logger
from core.metrics import count_error
from core.sentry import report_failure, transaction
from core.settings import QueueSettings

log = get_logger(__name__)

MISSED_TEXT = "Sorry, I missed this question while I was unavailable — please ask again."
GAVE_UP_TEXT = "Sorry, I couldn't answer this question: something kept failing on my side. Reference: {reference}"
STOPPED_NOTE = "_Stopped before the end._"
"""Under an answer whose asker pressed Stop (Markdown: each platform renders it its own way)."""
MAX_RETRY_DELAY = timedelta(minutes=5)
PRUNE_EVERY = timedelta(hours=1)
LISTENER_LOST = "the connection listening for new jobs stopped receiving notifications"


class ListenerLostError(RuntimeError):
    """The worker's LISTEN connection stopped receiving notifications."""


class Worker:
    restart_delay = 5.0
    """Seconds before a run that failed (or lost its listener) starts over."""
    listener_check_every = 30.0
    """Seconds between checks that the LISTEN connection still receives notifications."""
    listener_timeout = 10.0
    """Seconds a check waits for its own notification."""
    tenant_retry_delay = 1.0
    """Seconds (on average) before a question whose tenant had all its answers under way first looks for a slot
    again: one frees as soon as any of them is delivered. Later waits grow (see :func:`tenant_wait_seconds`)."""
    tenant_retry_max_delay = 15.0
    """The longest a waiting question goes without looking for its tenant's slot."""

    def __init__(
        self,
        queue: JobQueue,
        agent: AgentService,
        deliverers: Mapping[str, Deliverer],
        settings: QueueSettings | None = None,
        *,
        after_first_answer: Callable[[], None] | None = None,
        limits: Limits | None = None,
        first_run: FirstRunHelp | None = None,
    ) -> None:
        """``after_first_answer``: called once, when the first answer has been delivered. A server freezes then
        what that answer loaded for good (modules imported on first use, compiled statements, model schemas):
        under load its full collections took 4.5–10.2 ms, about one a second, and 1.1–3.8 ms once it was frozen.
        ``limits``: questions a minute per user and channel, answers at once per tenant; None: no limits.
        ``first_run``: adds how to fix it to a refusal in a tenant without documents; None: nothing added."""
        self.queue = queue
        self.agent = agent
        self.deliverers = dict(deliverers)
        self.settings = settings or QueueSettings()
        self._after_first_answer = after_first_answer
        self.limits = limits
        self._first_run = first_run
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        """Answers in progress; the jobs pgqueuer hands over beyond them wait here, in reserve."""

    async def run(self, stop: asyncio.Event) -> None:
        """Answer jobs until ``stop`` is set; the jobs in progress then finish before this returns.

        When the connection that listens for new jobs is lost (e.g. the database restarted) or the run fails, the
        worker starts over after a few seconds rather than carrying on with slow polling or not at all.
        """
        await self._manager().verify_structure()  # a database without the queue's migration fails here, at once
        pruner = asyncio.create_task(self._prune_periodically(stop))
        try:
            while not stop.is_set():
                try:
                    await self._run(QueueExecutionMode.continuous, stop)
                except Exception as error:
                    if stop.is_set():
                        log.warning("worker stopped with an error", exc_info=error)
                        break
                    log.error(
                        "worker interrupted; starting over",
                        exc_info=error,
                        retry_in_seconds=self.restart_delay,
                    )
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.restart_delay)
        finally:
            pruner.cancel()
            with suppress(asyncio.CancelledError):
                await pruner

    async def drain(self) -> None:
        """Answer every job in the queue, retries included, and return when none is left (tests, one-off runs)."""
        await self._run(QueueExecutionMode.drain, asyncio.Event())

    async def answer(self, event: ChatEvent) -> None:
        """Everything one job does for ``event``; raises (so the job is retried) when delivering fails."""
        deliverer = self.deliverers.get(event.platform)
        if deliverer is None:
            log.error("no deliverer for this platform; the question is dropped")
            return
        request = self._request(event)
        # Under way while the job waits for a slot, does its bookkeeping and shows the 👀: the search needs it
        # only after all that. A job sent back to wait for its tenant's slot throws it away (3.5 ms of CPU); its
        # waits grow (``tenant_wait_seconds``), so a long wait costs a few dozen at most.
        query_embedding = self.agent.embed_question(request) if request is not None else None
        # The tenant's slot is taken once this worker has one free: a job that finds its tenant's answers all under
        # way goes back to the queue (see ``_job``) and leaves this worker to other tenants' questions.
        async with self._slots, self._tenant_slot(event):
            await self._answer(event, deliverer, request, query_embedding)

    def _tenant_slot(self, event: ChatEvent) -> AbstractAsyncContextManager[None]:
        if self.limits is None:
            return nullcontext()
        return self.limits.answer_slot(platform=event.platform, tenant=event.tenant)

    async def _answer(
        self,
        event: ChatEvent,
        deliverer: Deliverer,
        request: AnswerRequest | None,
        query_embedding: QueryEmbedding | None,
    ) -> None:
        progress = await self.queue.start_run(event)
        if progress.delivered:
            log.info("answer already delivered; nothing to do")
            return
        if progress.placeholder_id is not None:  # an earlier run began showing the answer: carry on in that message
            deliverer.resume(event, progress.placeholder_id)
        reply = progress.reply
        if reply is None and progress.runs > self.settings.retry_attempts:
            # More runs than attempts: workers died on this job (pgqueuer does not count that as a failure).
            reference = report_failure(RuntimeError("every worker that took this question stopped during it"))
            log.error("giving up on a question whose job keeps dying", runs=progress.runs, reference_id=reference)
            reply = _gave_up(event, reference)
        if reply is None and request is not None:
            reply = await self._over_limit(event, progress.runs)
        if reply is None:
            age = self._age_seconds(event)
            if age > self.settings.max_age_seconds:
                log.warning("question waited too long; apologising instead of answering", age_seconds=round(age))
                reply = AnswerReply(text=MISSED_TEXT, outcome="error", trace_id=event.trace_id)
            else:
                if request is None:
                    return
                # The 👀 goes up while the answer is being written, so the platform's round trip is not added
                # to every answer. It is up before any part of the answer is shown.
                shown = asyncio.create_task(self._working(deliverer, event))
                try:
                    reply = await self._stream(deliverer, event, request, query_embedding, shown)
                finally:
                    await shown
                reply = await self._explained(event, reply)
                await self.queue.save_reply(event, reply)
        platform_message_id = await deliverer.deliver(event, reply)
        await self.queue.mark_delivered(event, answer_id=reply.message_id, posted_as=platform_message_id)
        # The one line per handled question (platform, tenant, channel and trace id are bound for the job).
        log.info(
            "answer delivered",
            outcome=reply.outcome,
            latency_ms=reply.latency_ms,
            model=reply.model or ("extractive" if reply.extractive else None),
            prompt_tokens=reply.usage.prompt_tokens,
            completion_tokens=reply.usage.completion_tokens,
            retrieval_hits=len(reply.retrieved),
            sources=len(reply.sources),
            reference_id=reply.reference_id,
        )
        if self._after_first_answer is not None:
            after, self._after_first_answer = self._after_first_answer, None
            after()

    # --- running pgqueuer ------------------------------------------------------------------------------------

    def _manager(self) -> QueueManager:
        manager = QueueManager(self.queue.queries(), channel=Channel(self.queue.db_settings.channel))
        executor = DatabaseRetryEntrypointExecutor(
            # No limit across workers: each worker's own budget (below) and its slots bound what it does.
            EntrypointExecutorParameters(concurrency_limit=0, func=self._job),
            # pgqueuer counts retries; the setting counts attempts (the first run included).
            max_attempts=self.settings.retry_attempts - 1,
            initial_delay=timedelta(seconds=self.settings.retry_delay),
            max_delay=MAX_RETRY_DELAY,
        )
        manager.register_executor(ANSWER_ENTRYPOINT, executor)
        return manager

    async def _run(self, mode: QueueExecutionMode, stop: asyncio.Event) -> None:
        manager = self._manager()
        listener_lost = asyncio.Event()

        async def stop_when_asked() -> None:
            await stop.wait()
            manager.shutdown.set()

        async def watch_listener() -> None:
            # pgqueuer's own probe can fire before its LISTEN is in place (a false alarm at start-up), so it only
            # logs; this one starts once the worker is up and ends the run when new jobs would go unnoticed.
            while not manager.shutdown.is_set():
                with suppress(TimeoutError):
                    await asyncio.wait_for(manager.shutdown.wait(), timeout=self.listener_check_every)
                    return
                try:
                    await manager.listener_healthy(timeout=timedelta(seconds=self.listener_timeout))
                except FailingListenerError:
                    listener_lost.set()
                    manager.shutdown.set()
                except Exception as error:  # the database is unreachable: the run itself fails and starts over
                    log.warning("could not check the job listener", exc_info=error)

        stalled_after = self.settings.stalled_after_seconds
        # New jobs wake the worker at once (NOTIFY); polling finds jobs whose worker died. A worker that cannot
        # LISTEN (behind a transaction pooler with no direct connection) polls for new jobs too.
        poll_every = min(30.0, max(0.5, stalled_after / 2))
        if not self.queue.listens:
            poll_every = min(poll_every, self.settings.poll_interval)
        helpers = [asyncio.create_task(stop_when_asked())]
        if mode is QueueExecutionMode.continuous and self.queue.listens:
            helpers.append(asyncio.create_task(watch_listener()))
        log.info(
            "worker started",
            mode=mode.value,
            concurrency=self.settings.concurrency,
            new_jobs="notified" if self.queue.listens else f"polled every {poll_every:g} s",
        )
        try:
            await manager.run(
                dequeue_timeout=timedelta(seconds=poll_every),
                batch_size=self.settings.concurrency,
                # The answers in progress and as many in reserve (pgqueuer's minimum for this batch size).
                max_concurrent_tasks=2 * self.settings.concurrency,
                mode=mode,
                heartbeat_timeout=timedelta(seconds=stalled_after),
            )
        except Exception as error:
            if listener_lost.is_set():  # pgqueuer trips over the dead connection on the way out
                raise ListenerLostError(LISTENER_LOST) from error
            raise
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            log.info("worker stopped", mode=mode.value)
        if listener_lost.is_set() and not stop.is_set():
            raise ListenerLostError(LISTENER_LOST)

    async def _job(self, job: Job) -> None:
        try:
            event = ChatEvent.model_validate_json(job.payload or b"")
        except ValidationError as error:  # retrying cannot fix it
            log.error("job dropped: its payload is not a chat event", job_id=job.id, problems=_problems(error))
            return
        with bound_context(
            trace_id=event.trace_id, platform=event.platform, tenant=event.tenant, channel=event.channel
        ):
            attempt = job.attempts + 1
            if attempt > 1:
                log.info("retrying the question", job_id=job.id, attempt=attempt)
            try:
                with transaction("threadwise.job", f"answer {event.platform} question"):
                    await self.answer(event)
            except TenantBusyError:
                await self._wait_for_tenant(job, event)
            except RecipientGone as gone:
                log.info("question dropped: nowhere to answer it", job_id=job.id, reason=str(gone))
            except Exception as error:
                count_error("job")
                details = {"job_id": job.id, "attempt": attempt, "error": f"{type(error).__name__}: {error}"}
                if attempt >= self.settings.retry_attempts:
                    reference = report_failure(error)
                    log.error("giving up on the question", reference_id=reference, **details)
                    await self._apologise(event, reference)
                else:
                    log.warning("answering failed; it will be retried", **details)
                raise

    async def _wait_for_tenant(self, job: Job, event: ChatEvent) -> None:
        """Put the job back to wait for its tenant's next free slot: not answered now, nor dropped, nor counted as a
        failed attempt (pgqueuer's retry counts one, taken back first), so it waits as long as it needs, until
        ``QUEUE_MAX_AGE_SECONDS`` turns it into an apology."""
        delay = tenant_wait_seconds(
            self._age_seconds(event), first=self.tenant_retry_delay, most=self.tenant_retry_max_delay
        )
        log.info("the tenant's answers are all under way; the question waits", retry_in_seconds=round(delay, 1))
        await self.queue.uncount_attempt(job.id)
        raise RetryRequested(delay=timedelta(seconds=delay), reason="tenant at its limit of answers at once")

    async def _over_limit(self, event: ChatEvent, runs: int) -> AnswerReply | None:
        """The reply to a question over its user's or channel's limit (kept, so a retried delivery is not counted
        again); None when it is within them. Counted here, once the event is known to be new (a platform's retried
        delivery never counts twice), and answered by the platform's deliverer, like any reply.

        ``runs``: the job's runs so far, this one included. Counted on the first only: a retry or a takeover
        after a crash is the same question (one whose first run died before counting it is not counted)."""
        if self.limits is None or runs > 1:  # 0: no row for the event (pruned): a first run too
            return None
        refusal = await self.limits.check_question(
            platform=event.platform,
            tenant=event.tenant,
            channel=event.channel,
            user=event.user_id,
            asked_at=event.received_at,
        )
        if refusal is None:
            return None
        reply = AnswerReply(text=refusal.text, outcome="error", trace_id=event.trace_id)
        await self.queue.save_reply(event, reply)
        return reply

    async def _apologise(self, event: ChatEvent, reference: str) -> None:
        """After the last attempt failed, say so rather than go quiet (best effort: the platform may be what failed)."""
        deliverer = self.deliverers.get(event.platform)
        if deliverer is None:
            return
        reply = _gave_up(event, reference)
        try:
            await deliverer.deliver(event, reply)
            await self.queue.mark_delivered(event)
        except Exception as error:
            log.error("apology not delivered either", reference_id=reference, exc_info=error)

    async def _explained(self, event: ChatEvent, reply: AnswerReply) -> AnswerReply:
        """A refusal that found nothing, with the first-run hint when that is why (a failing check loses nothing)."""
        if self._first_run is None:
            return reply
        try:
            return await self._first_run.explain(event, reply)
        except Exception as error:
            log.warning("could not check whether the tenant has documents", exc_info=error)
            return reply

    async def _prune_periodically(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                pruned = await self.queue.prune()
            except Exception as error:
                log.warning("could not prune processed events", exc_info=error)
            else:
                if any(pruned):
                    log.info(
                        "pruned processed events",
                        events=pruned.events,
                        queue_log_lines=pruned.log_lines,
                        answered_threads=pruned.threads,
                    )
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=PRUNE_EVERY.total_seconds())

    # --- one job ---------------------------------------------------------------------------------------------

    @staticmethod
    def _age_seconds(event: ChatEvent) -> float:
        received = event.received_at if event.received_at.tzinfo else event.received_at.replace(tzinfo=UTC)
        return (datetime.now(UTC) - received).total_seconds()

    @staticmethod
    def _request(event: ChatEvent) -> AnswerRequest | None:
        try:
            return AnswerRequest(
                question=without_unstorable(event.text)[:MAX_QUESTION_CHARS],
                conversation=event.conversation,
                user_id=event.user_id,
                platform_message_id=event.message_id or None,
                collections=event.collections,
                trace_id=event.trace_id[:64],
            )
        except ValidationError as error:  # e.g. only whitespace: nothing to answer, and retrying cannot help
            log.warning("question dropped: not a valid question", problems=_problems(error))
            return None

    async def _working(self, deliverer: Deliverer, event: ChatEvent) -> None:
        # Showing progress is a courtesy: when it fails, answering goes on (delivering is what gets retried).
        try:
            await deliverer.working(event)
        except Exception as error:
            log.warning("could not show that the bot is working", exc_info=error)

    async def _stream(
        self,
        deliverer: Deliverer,
        event: ChatEvent,
        request: AnswerRequest,
        query_embedding: QueryEmbedding | None,
        shown: asyncio.Task[None],
    ) -> AnswerReply:
        text = ""
        # The first partial text shows once the answer has taken an interval: one written faster goes out as a
        # single message (the 👀 already says the bot is on it), sparing the platform a post and an edit.
        started = last_update = time.monotonic()
        reply: AnswerReply | None = None
        # Closed on the way out: a stopped answer's run (its model call) ends with it.
        async with aclosing(self.agent.stream(request, query_embedding=query_embedding)) as items:
            async for item in items:
                if isinstance(item, StreamFinal):
                    reply = item.reply
                    continue
                text += item.text
                now = time.monotonic()
                if now - last_update < self.settings.update_interval:
                    continue
                await shown
                try:
                    posted = await deliverer.update(event, text)
                except Exception as error:
                    log.warning("could not show the partial answer", exc_info=error)
                else:
                    if posted is not None:
                        await self._keep_placeholder(event, posted)
                # From the end of this update: one slowed by the platform (a 429 waited out) is not followed at once
                # by the next.
                last_update = time.monotonic()
                if deliverer.offers_stop(event) and await self._stop_requested(event):
                    log.info("answer stopped by the person who asked", shown_chars=len(text))
                    return _stopped(event, text, started)
        if reply is None:  # stream() always ends with the final reply
            raise RuntimeError("the agent's stream ended without a reply")
        return reply

    async def _stop_requested(self, event: ChatEvent) -> bool:
        # Read at each update of a partial answer shown with a Stop button (about once a second).
        try:
            return await self.queue.stop_requested(event)
        except Exception as error:  # the answer goes on: stopping is a courtesy, answering is the job
            log.warning("could not check whether the answer was stopped", exc_info=error)
            return False

    async def _keep_placeholder(self, event: ChatEvent, placeholder_id: str) -> None:
        # Stored before the answer goes on, so a run retaken after a crash edits this message instead of posting
        # a second answer. Best effort: without it, only a crash's retake would post twice.
        try:
            await self.queue.save_placeholder(event, placeholder_id)
        except Exception as error:
            log.warning("could not store the placeholder's id", exc_info=error)


def tenant_wait_seconds(waited: float, *, first: float, most: float) -> float:
    """How long a question that has waited ``waited`` seconds waits for its tenant's slot before looking again:
    about as long again, so the waits double (``first``, ``first``, 2 × ``first`` …) up to ``most``.

    Backing off on the time waited rather than on a count of waits: nothing counts them (each wait's attempt is
    taken back, and a job's runs are counted only once it holds its slot), and the time works on any replica."""
    delay = min(most, max(first, waited))
    # Spread out, so that the waiting questions of a tenant do not all come back at the same instant.
    return delay * random.uniform(0.75, 1.25)  # noqa: S311 (not a secret)


def _problems(error: ValidationError) -> list[str]:
    """What was wrong, never the values: a payload holds people's messages."""
    return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors(include_input=False)[:10]]


def _stopped(event: ChatEvent, text: str, started: float) -> AnswerReply:
    """The answer as far as it was written when the person who asked pressed Stop. Not stored in the conversation
    (the agent's run ended before its save), so it has no sources and takes no votes."""
    return AnswerReply(
        text=f"{text.rstrip()}\n\n{STOPPED_NOTE}",
        outcome="answered",
        trace_id=event.trace_id,
        latency_ms=round((time.monotonic() - started) * 1000),
    )


def _gave_up(event: ChatEvent, reference: str) -> AnswerReply:
    return AnswerReply(text=GAVE_UP_TEXT.format(reference=reference), outcome="error", trace_id=event.trace_id)

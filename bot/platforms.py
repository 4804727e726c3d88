"""The chat platforms a process runs: the queue, the Slack app and Discord gateway (listeners), the worker
(deliverers).

Built in the web app's lifespan: ``serve`` runs everything in one process by default; with ``--role web`` only
Slack's listeners, ``--role discord`` only the Discord gateway, ``--role worker`` only the worker.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agent.feedback import FeedbackStore
from agent.service import AgentService
from agent.verified import VerifiedAnswers
from bot.channels import ChannelSettingsStore
from bot.discord.deliverer import DiscordDeliverer
from bot.discord.deps import DiscordDeps
from bot.discord.gateway import start_gateway
from bot.discord.rest import create_rest_client
from bot.events import Deliverer
from bot.first_run import FirstRunHelp
from bot.follow_ups import AnsweredThreads
from bot.limits import Limits
from bot.queue import JobQueue
from bot.slack.app import create_slack_app
from bot.slack.deliverer import SlackDeliverer
from bot.slack.deps import SlackDeps
from bot.slack.oauth import SlackOAuth
from bot.slack.workspace_deliverer import SlackWorkspaceDeliverer
from bot.slack.workspaces import SlackWorkspaces, open_workspaces
from bot.worker import Worker
from core.collector import freeze_long_lived
from core.logging import get_logger
from core.settings import Settings
from knowledge.sources.service import Sources

log = get_logger(__name__)


@dataclass
class Platforms:
    queue: JobQueue | None = None
    slack_handler: AsyncSlackRequestHandler | None = None
    worker_task: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)


async def start_platforms(
    stack: AsyncExitStack,
    settings: Settings,
    url: URL,
    *,
    agent: AgentService,
    sessionmaker: async_sessionmaker[AsyncSession],
    listeners: bool,
    worker: bool,
    gateway: bool = True,
    freeze_after_first_answer: bool = False,
    sources: Sources | None = None,
) -> Platforms:
    """Start what the configuration asks for; ``stack`` stops it all (the worker finishes its jobs first).

    ``listeners``: Slack's; ``gateway``: Discord's; ``worker``: answer the queue on every configured platform.
    ``sources``: for the commands that add a channel's history as a source.
    """
    platforms = Platforms()
    if not (settings.slack.enabled or settings.discord.enabled):
        return platforms
    queue = await JobQueue.connect(url, role="queue", database=settings.database)
    stack.push_async_callback(queue.close)
    platforms.queue = queue
    feedback = FeedbackStore(sessionmaker, tracing=agent.tracing)
    channels = ChannelSettingsStore(sessionmaker)
    threads = AnsweredThreads(sessionmaker)
    verified = VerifiedAnswers(agent.context.knowledge, agent.store.sessionmaker)  # shared by both platforms
    # Listeners and worker share the workspaces: an uninstall seen by one is seen by the other at once.
    workspaces = await open_workspaces(stack, settings.slack, sessionmaker) if settings.slack.enabled else None
    if listeners and workspaces is not None:
        await _start_slack(
            stack, settings, platforms, queue, workspaces, agent, feedback, channels, threads, verified, sources
        )
    if gateway and settings.discord.enabled:
        deps = DiscordDeps(
            queue=queue,
            feedback=feedback,
            channels=channels,
            threads=threads,
            conversations=agent,
            tenant=settings.discord.tenant,
            dm_tenant=settings.discord.dm_tenant,
            verified=verified,
            sources=sources,
        )
        await start_gateway(stack, settings.discord, deps, data_dir=settings.app.data_dir)
        log.info("discord gateway starting", sharded=settings.discord.sharded)
    if worker:
        deliverers: dict[str, Deliverer] = {}
        if workspaces is not None:
            streaming = settings.slack.native_streaming
            deliverers["slack"] = (
                SlackDeliverer(workspaces.client, native_streaming=streaming)
                if workspaces.installations is None
                else SlackWorkspaceDeliverer(workspaces, native_streaming=streaming)  # each workspace its own token
            )
        if settings.discord.enabled:
            rest = await create_rest_client(settings.discord)
            stack.push_async_callback(rest.close)
            deliverers["discord"] = DiscordDeliverer(rest)
        limits = Limits(settings.limits, queue.pool)
        stack.push_async_callback(limits.aclose)
        runner = Worker(
            queue,
            agent,
            deliverers,
            settings.queue,
            after_first_answer=freeze_long_lived if freeze_after_first_answer else None,
            limits=limits,
            first_run=FirstRunHelp(sessionmaker),
        )
        platforms.worker_task = asyncio.create_task(runner.run(platforms.stop), name="threadwise-worker")

        async def stop_worker() -> None:
            platforms.stop.set()
            if platforms.worker_task is not None:
                await platforms.worker_task

        stack.push_async_callback(stop_worker)
        log.info("worker ready", platforms=sorted(deliverers))
    return platforms


async def _start_slack(
    stack: AsyncExitStack,
    settings: Settings,
    platforms: Platforms,
    queue: JobQueue,
    workspaces: SlackWorkspaces,
    agent: AgentService,
    feedback: FeedbackStore,
    channels: ChannelSettingsStore,
    threads: AnsweredThreads,
    verified: VerifiedAnswers,
    sources: Sources | None,
) -> None:
    deps = SlackDeps(
        queue=queue,
        feedback=feedback,
        channels=channels,
        threads=threads,
        forget_channel=agent.forget_channel,
        admins=frozenset(settings.slack.admin_user_ids),
        tenant=settings.slack.tenant,
        verified=verified,
        sources=sources,
        most_asked=agent.most_asked,
        stops=queue,
    )
    # With OAuth installs (many workspaces) Bolt finds each workspace's token in the store for its requests.
    oauth = None if workspaces.installations is None else SlackOAuth(settings.slack, workspaces.installations, queue)
    slack_app = create_slack_app(settings.slack, deps, workspaces.client, oauth)
    if settings.slack.app_token is not None:  # Socket Mode: connect out, no public URL needed
        socket = AsyncSocketModeHandler(slack_app, settings.slack.app_token.get_secret_value())
        await socket.connect_async()  # type: ignore[no-untyped-call]
        stack.push_async_callback(socket.close_async)
    else:
        platforms.slack_handler = AsyncSlackRequestHandler(slack_app)
    mode = "socket mode" if settings.slack.app_token is not None else "http events"
    log.info("slack ready", transport=mode)

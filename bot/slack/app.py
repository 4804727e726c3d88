"""The Bolt app: listeners registered by event type. Signatures are checked in bot/slack/http.py before Bolt
sees a request, and again by Bolt (defence in depth)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.deps import SlackDeps
from bot.slack.listeners import commands, errors, questions, reactions
from core.settings import SlackSettings


def create_slack_app(settings: SlackSettings, deps: SlackDeps, client: AsyncWebClient) -> AsyncApp:
    signing_secret = settings.signing_secret.get_secret_value() if settings.signing_secret else None
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        # Run the listener (an enqueue, a few ms) before answering Slack: a 200 means the question is stored.
        process_before_response=True,
        # Socket Mode has no signatures to check; HTTP mode always has a signing secret (settings enforce it).
        request_verification_enabled=signing_secret is not None,
    )
    questions.register(app, deps)
    reactions.register(app, deps)
    commands.register(app, deps)
    errors.register(app)
    return app

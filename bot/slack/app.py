"""The Bolt app: listeners registered by event type. Signatures are checked in bot/slack/http.py before Bolt
sees a request, and again by Bolt (defence in depth). With ``oauth`` (many workspaces) Bolt also runs the install
flow and finds each workspace's token for its requests (``bot/slack/oauth.py``)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.deps import SlackDeps
from bot.slack.listeners import actions, assistant, commands, errors, installs, questions, reactions
from bot.slack.oauth import SlackOAuth
from core.settings import SlackSettings


def create_slack_app(
    settings: SlackSettings, deps: SlackDeps, client: AsyncWebClient, oauth: SlackOAuth | None = None
) -> AsyncApp:
    signing_secret = settings.signing_secret.get_secret_value() if settings.signing_secret else None
    app = AsyncApp(
        client=client,
        signing_secret=signing_secret,
        # Run the listener (an enqueue, a few ms) before answering Slack: a 200 means the question is stored.
        process_before_response=True,
        # Socket Mode has no signatures to check; HTTP mode always has a signing secret (settings enforce it).
        request_verification_enabled=signing_secret is not None,
        **(oauth.app_options(client) if oauth is not None else {}),
    )
    if oauth is not None:
        installs.register(app, oauth)
    assistant.register(app, deps)  # before the DM listener: it takes the messages in assistant threads
    questions.register(app, deps)
    reactions.register(app, deps)
    actions.register(app, deps)
    commands.register(app, deps)
    errors.register(app)
    return app

"""The bot's own table: every platform event it has accepted, for permanent deduplication.

pgqueuer's ``dedupe_key`` only guards jobs that are still queued or running, but Slack retries an event whose
acknowledgement it missed, possibly after the first job has finished. A row here outlives the job, so such a
retry is recognised. The row also remembers the job's progress: the agent's reply once it is written (a retried
delivery posts it instead of asking the agent again) and when it was delivered (a job re-run after a crash does
not post twice). pgqueuer's own tables are created by migration 0005 and are not modelled here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, CheckConstraint, DateTime, Index, Integer, SmallInteger, String, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base


class ChannelSettings(Base):
    """Per-channel choices of its admins: when the bot answers, and which collections it searches."""

    __tablename__ = "channel_settings"
    __table_args__ = (
        CheckConstraint("mode IN ('mention', 'auto', 'off')", name="mode"),
        CheckConstraint("follow_ups IN ('asker', 'anyone', 'off')", name="follow_ups"),
    )

    tenant: Mapped[str] = mapped_column(String(200), primary_key=True)
    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(200), primary_key=True)
    mode: Mapped[str] = mapped_column(String(16), server_default="mention")
    """mention: answer @mentions; auto: also answer questions asked without a mention; off: stay quiet."""
    collections: Mapped[list[str] | None] = mapped_column(ARRAY(String(200)))
    follow_ups: Mapped[str] = mapped_column(String(16), server_default="asker")
    """In a thread the bot answered, whose later messages it answers without a mention: asker, anyone or off."""
    answer_posts: Mapped[bool] = mapped_column(Boolean, server_default="false")
    """A Discord forum: every new post in it is answered as a question, without a mention."""
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AnsweredThread(Base):
    """A thread the bot answered in: who asked, and how many messages people have since written to each other
    there. Follow-ups without a mention are answered only while that count is 0; an answer sets it back."""

    __tablename__ = "answered_threads"
    __table_args__ = (Index(None, "answered_at"),)

    tenant: Mapped[str] = mapped_column(String(200), primary_key=True)
    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(200), primary_key=True)
    thread: Mapped[str] = mapped_column(String(200), primary_key=True)
    asker: Mapped[str] = mapped_column(String(200))
    answered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    others_since: Mapped[int] = mapped_column(Integer, server_default="0")


class ProcessedEvent(Base):
    __tablename__ = "processed_events"
    __table_args__ = (Index(None, "received_at"),)

    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    reply: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    """The agent's reply (``AnswerReply`` as JSON) once written; cleared with the row after the retention."""
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    runs: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    """Times a worker started this event's job: retries and takeovers after a crash alike."""
    placeholder_id: Mapped[str | None] = mapped_column(String(200))
    """The platform's id of the message the answer is being written into, stored as soon as it is posted: a job
    retaken after a crash edits that message rather than posting a second answer."""
    stop_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """The asker (or an admin) pressed Stop under the answer while it was being written: the worker ends it there."""


class SlackInstallation(Base):
    """A Slack workspace that installed Threadwise through OAuth (``/slack/install``), or an Enterprise Grid
    organisation that installed it org-wide. Its bot token is sealed (Fernet, ``SLACK_TOKENS_SECRET_KEY``): the
    table never holds a token in clear. The row goes when the app is uninstalled or its bot token revoked."""

    __tablename__ = "slack_installations"

    installed_into: Mapped[str] = mapped_column(String(32), primary_key=True)
    """The workspace's team id (``T…``), or the organisation's enterprise id (``E…``) for an org-wide install."""
    team_id: Mapped[str | None] = mapped_column(String(32))
    team_name: Mapped[str | None] = mapped_column(String(200))
    enterprise_id: Mapped[str | None] = mapped_column(String(32))
    enterprise_name: Mapped[str | None] = mapped_column(String(200))
    enterprise_url: Mapped[str | None] = mapped_column(String(200))
    is_enterprise_install: Mapped[bool] = mapped_column(Boolean, server_default="false")
    app_id: Mapped[str | None] = mapped_column(String(32))
    bot_id: Mapped[str] = mapped_column(String(32))
    bot_user_id: Mapped[str] = mapped_column(String(32))
    bot_scopes: Mapped[str] = mapped_column(String(1000), server_default="")
    bot_token_sealed: Mapped[str] = mapped_column(String(1000))
    bot_refresh_token_sealed: Mapped[str | None] = mapped_column(String(1000))
    """Only when the app rotates its tokens; sealed like the bot token."""
    bot_token_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    installer_user_id: Mapped[str | None] = mapped_column(String(32))
    installed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class SlackOAuthState(Base):
    """An install under way: the ``state`` Slack's authorize page hands back, accepted once before it expires."""

    __tablename__ = "slack_oauth_states"

    state: Mapped[str] = mapped_column(String(100), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

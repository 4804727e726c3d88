"""Threadwise configuration: the one place that reads the environment.

Every variable is flat (``SLACK_BOT_TOKEN``, ``DATABASE_URL``) and lands in a nested group
(``settings.slack.bot_token``, ``settings.database.url``): the first ``_`` separates the group.
Invalid configuration raises :class:`ConfigurationError` with one readable line per problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Self

from cryptography.fernet import Fernet
from pydantic import (
    BaseModel,
    Field,
    HttpUrl,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from core import token_strength

Environment = Literal["development", "production", "test"]

# Database URL schemes we accept, all served by the asyncpg driver.
_POSTGRES_DRIVERS = {"postgres", "postgresql", "postgresql+asyncpg"}


class ConfigurationError(Exception):
    """The configuration cannot run Threadwise; ``problems`` holds one readable line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class AppSettings(BaseModel):
    data_dir: Path = Path(".data")
    """Where the embedded PostgreSQL and other local state live (git-ignored)."""


class DatabaseSettings(BaseModel):
    url: SecretStr | None = None
    """PostgreSQL URL; unset means the embedded server under ``APP_DATA_DIR/pg``."""
    read_url: SecretStr | None = None
    """A read replica of ``url``: the searches behind answers go there (everything else, writes included, to
    ``url``). Unset: everything goes to ``url``."""
    pool_mode: Literal["session", "transaction"] = "session"
    """How the server connections behind ``url`` are handed out. ``transaction``: ``url`` goes through a pooler
    such as PgBouncer in transaction mode, where each transaction may run on another server connection, so
    Threadwise keeps no state on a connection between transactions (no statement caches, the search's
    ``ef_search`` set in each search's transaction) and never LISTENs through it (see ``listen_url``)."""
    listen_url: SecretStr | None = None
    """PostgreSQL reached directly, not through a transaction pooler: workers LISTEN there for new questions. Its
    database defaults to ``url``'s. Unset with ``pool_mode=transaction``: workers look for new questions every
    ``QUEUE_POLL_INTERVAL`` seconds instead."""
    pool_size: int = Field(default=5, ge=1, le=100)
    connect_timeout: float = Field(default=5.0, gt=0, le=120)
    echo: bool = False

    @field_validator("url", "read_url", "listen_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("pool_mode", mode="before")
    @classmethod
    def _pool_mode_lower_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("url", "read_url", "listen_url")
    @classmethod
    def _must_be_postgres(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            return None
        try:
            url = make_url(value.get_secret_value())
        except ArgumentError:
            raise ValueError("is not a database URL; expected postgresql://user:password@host:5432/dbname") from None
        if url.drivername not in _POSTGRES_DRIVERS:
            raise ValueError(
                f"uses scheme '{url.drivername}'; Threadwise needs PostgreSQL "
                "(postgresql://user:password@host:5432/dbname)"
            )
        if not url.database and info.field_name != "listen_url":
            raise ValueError("names no database; add one after the host, e.g. postgresql://…@host:5432/threadwise")
        return value

    @model_validator(mode="after")
    def _needs_a_primary(self) -> Self:
        if self.read_url is not None and self.url is None:
            raise ValueError("DATABASE_READ_URL is set without DATABASE_URL: a replica needs the server it copies")
        if self.listen_url is not None and self.url is None:
            raise ValueError("DATABASE_LISTEN_URL is set without DATABASE_URL: it reaches the server of DATABASE_URL")
        return self

    @property
    def pooled_per_transaction(self) -> bool:
        """Whether consecutive transactions may run on different server connections (``pool_mode=transaction``)."""
        return self.pool_mode == "transaction"

    def async_url(self) -> URL | None:
        """The configured URL with the asyncpg driver, or None for the embedded server."""
        return _asyncpg(self.url)

    def async_read_url(self) -> URL | None:
        """The read replica's URL with the asyncpg driver, or None when searches read the primary."""
        return _asyncpg(self.read_url)

    def listen_url_for(self, url: URL) -> URL | None:
        """Where workers LISTEN for new questions, given the server ``url`` resolves to: ``listen_url`` (on ``url``'s
        database unless it names one); else ``url`` itself, unless that goes through a transaction pooler (then
        None: workers poll)."""
        listen = _asyncpg(self.listen_url)
        if listen is not None:
            return listen if listen.database else listen.set(database=url.database)
        return None if self.pooled_per_transaction else url


def _asyncpg(url: SecretStr | None) -> URL | None:
    return None if url is None else make_url(url.get_secret_value()).set(drivername="postgresql+asyncpg")


class LogSettings(BaseModel):
    format: Literal["auto", "console", "json"] = "auto"
    """``auto``: console in a terminal, JSON otherwise."""
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator("format", "level", mode="before")
    @classmethod
    def _normalise_case(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        return value.upper() if value.lower() in {"debug", "info", "warning", "error"} else value.lower()


class WebSettings(BaseModel):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    allowed_hosts: Annotated[list[str], NoDecode] = []
    """Host names requests may be addressed to (comma-separated; ``*.example.com`` for subdomains, ``*`` for
    any), besides loopback names and ``WEB_HOST`` when it names one host: what stops DNS rebinding."""

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _comma_separated_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip().lower() for item in value.split(",") if item.strip()]
        return value


SLACK_BOT_SCOPES = (
    "app_mentions:read",
    "assistant:write",
    "chat:write",
    "im:history",
    "channels:history",
    "groups:history",
    "channels:read",
    "groups:read",
    "reactions:read",
    "reactions:write",
    "commands",
    "users:read",
)
"""The bot scopes of ``docs/slack-manifest.yml``: what a workspace grants when it installs through OAuth."""


class SlackSettings(BaseModel):
    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None
    api_url: HttpUrl = HttpUrl("https://slack.com/api/")
    admin_user_ids: Annotated[list[str], NoDecode] = []
    """Users (comma-separated ids) who may change channel settings, besides the workspace's admins and owners."""
    tenant: str | None = None
    """Whose knowledge Slack questions search: unset, each workspace's own (its team id, ``T…``); set it to
    ``local`` to answer every workspace from the documents ingested with the default tenant."""
    native_streaming: bool = True
    """Write answers in threads with Slack's native streaming where the workspace allows it; off: always into a
    message edited about once a second, as before streaming (see docs/slack.md)."""
    client_id: str | None = None
    """With ``client_secret``: many workspaces, each installed through ``/slack/install`` (OAuth), instead of the
    one workspace of ``SLACK_BOT_TOKEN``."""
    client_secret: SecretStr | None = None
    scopes: Annotated[list[str], NoDecode] = list(SLACK_BOT_SCOPES)
    """Bot scopes an OAuth install asks for (comma-separated)."""
    redirect_uri: HttpUrl | None = None
    """``https://<host>/slack/oauth_redirect``; needed only when the app lists more than one redirect URL."""
    tokens_secret_key: SecretStr | None = None
    """Seals the workspaces' bot tokens at rest (OAuth installs); ``threadwise sources key`` prints a fresh key."""

    @field_validator("admin_user_ids", "scopes", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("client_id", "client_secret", "redirect_uri", "tokens_secret_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("tokens_secret_key")
    @classmethod
    def _a_fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            try:
                Fernet(value.get_secret_value().encode())
            except ValueError:
                raise ValueError(
                    "is not a key: make one with `threadwise sources key` (32 random bytes, URL-safe base64)"
                ) from None
        return value

    @model_validator(mode="after")
    def _needs_a_transport(self) -> Self:
        if (self.client_id is None) != (self.client_secret is None):
            raise ValueError(
                "SLACK_CLIENT_ID and SLACK_CLIENT_SECRET go together (installing into many workspaces); set both"
            )
        if self.oauth:
            return self._oauth_is_complete()
        if self.bot_token is not None and self.signing_secret is None and self.app_token is None:
            raise ValueError(
                "SLACK_BOT_TOKEN is set but neither SLACK_SIGNING_SECRET (HTTP events mode) nor "
                "SLACK_APP_TOKEN (Socket Mode) is; set one of them"
            )
        if self.bot_token is None and (self.signing_secret is not None or self.app_token is not None):
            raise ValueError("SLACK_SIGNING_SECRET or SLACK_APP_TOKEN is set without SLACK_BOT_TOKEN; set it too")
        if self.app_token is not None and not self.app_token.get_secret_value().startswith("xapp-"):
            raise ValueError("SLACK_APP_TOKEN must be an app-level token starting with 'xapp-'")
        return self

    def _oauth_is_complete(self) -> Self:
        # Both ways at once would leave it unclear which token answers the first workspace: refuse rather than pick.
        if self.bot_token is not None:
            raise ValueError(
                "SLACK_BOT_TOKEN and SLACK_CLIENT_ID/SLACK_CLIENT_SECRET are both set; choose one: keep "
                "SLACK_BOT_TOKEN for one workspace, or unset it to install every workspace (that one too) "
                "through /slack/install"
            )
        if self.app_token is not None or self.signing_secret is None:
            raise ValueError(
                "installing into many workspaces (SLACK_CLIENT_ID) needs HTTP events: set SLACK_SIGNING_SECRET "
                "and leave SLACK_APP_TOKEN (Socket Mode) unset"
            )
        if self.tokens_secret_key is None:
            raise ValueError(
                "SLACK_CLIENT_ID is set but SLACK_TOKENS_SECRET_KEY is not: set it to a key that seals the "
                "workspaces' tokens at rest (`threadwise sources key` prints a fresh one)"
            )
        if not self.scopes:
            raise ValueError("SLACK_SCOPES is empty: an install needs the bot scopes (see docs/slack-manifest.yml)")
        return self

    @property
    def oauth(self) -> bool:
        """Many workspaces, each installed through OAuth (``SLACK_CLIENT_ID`` and ``SLACK_CLIENT_SECRET``)."""
        return self.client_id is not None and self.client_secret is not None

    @property
    def enabled(self) -> bool:
        return self.bot_token is not None or self.oauth


class DiscordSettings(BaseModel):
    bot_token: SecretStr | None = None
    api_url: HttpUrl = HttpUrl("https://discord.com/api/v10")
    gateway_url: str = "wss://gateway.discord.gg/"
    dev_guild_id: int | None = None
    """Slash commands are registered to this server only (instant updates while developing); unset: globally."""
    shard_count: int | None = Field(default=None, ge=1)
    """Total shards of the bot; with ``shard_ids`` a process runs only those (several processes share the load)."""
    shard_ids: Annotated[list[int], NoDecode] = []
    """The shards this process runs, comma-separated (``0,1``); empty means all of ``shard_count``."""
    tenant: str | None = None
    """Overrides each server's id as the tenant (``local``: every server answers from the default documents)."""
    dm_tenant: str = "local"
    """Whose documents direct messages search: a DM belongs to no server."""
    guild_ready_timeout: float = Field(default=2.0, gt=0, le=60)
    """Seconds the gateway waits after the last server arrives before it counts as ready."""
    message_content: bool = False
    """Ask the gateway for the privileged Message Content intent, which lets the bot read messages that do not
    mention it (follow-ups in a thread it answered, replies to its answers). It needs "Message Content Intent"
    switched on in the Developer Portal (Bot → Privileged Gateway Intents), and verification with Discord's approval
    for a bot in 100 or more servers: without that, Discord refuses the gateway connection."""

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [int(item) for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _shards_fit(self) -> Self:
        if self.shard_ids and self.shard_count is None:
            raise ValueError("DISCORD_SHARD_IDS is set without DISCORD_SHARD_COUNT; set the total number of shards")
        if self.shard_count is not None and any(i < 0 or i >= self.shard_count for i in self.shard_ids):
            raise ValueError("DISCORD_SHARD_IDS must be between 0 and DISCORD_SHARD_COUNT - 1")
        return self

    @property
    def sharded(self) -> bool:
        return self.shard_count is not None

    @property
    def enabled(self) -> bool:
        return self.bot_token is not None


class LLMSettings(BaseModel):
    model: str | None = None
    """``provider:model`` (e.g. ``openai:gpt-4o-mini``); unset means extractive answers, no LLM."""
    fallback_model: str | None = None
    """Takes over (same base URL and key) when the primary model keeps failing."""
    base_url: HttpUrl | None = None
    api_key: SecretStr | None = None
    timeout: float = Field(default=60.0, gt=0, le=600)
    """Seconds per LLM request before it counts as failed (and is retried)."""
    max_tokens: int = Field(default=1024, ge=16, le=32_000)
    temperature: float = Field(default=0.1, ge=0, le=2)
    retry_attempts: int = Field(default=3, ge=1, le=10)
    """Attempts per LLM step on rate limits, server errors and timeouts (backoff between them)."""
    retry_backoff: float = Field(default=1.0, ge=0, le=60)
    """Seconds before the first retry; doubles each time."""

    @field_validator("model", "fallback_model")
    @classmethod
    def _provider_prefixed(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None
        if value is not None and ":" not in value:
            raise ValueError(f"'{value}' has no provider; write it as provider:model, e.g. openai:{value}")
        return value


class AgentSettings(BaseModel):
    sources: int = Field(default=5, ge=1, le=20)
    """Passages retrieved and offered to the model (and shown as sources) per question."""
    min_similarity: float = Field(default=0.465, ge=-1, le=1)
    """Below this evidence score the agent says it could not find the answer: the best passage's cosine similarity,
    mixed in extractive mode with the similarity of the quote it would show (``agent.evidence``)."""
    history_tokens: int = Field(default=1500, ge=0, le=100_000)
    """Budget for the latest turns kept verbatim in the prompt; older turns go into the rolling summary."""
    collections: Annotated[list[str], NoDecode] = []
    """Collections searched by default, comma-separated (all of the tenant's when empty)."""

    @field_validator("collections", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [name.strip() for name in value.split(",") if name.strip()]
        return value


class EmbeddingSettings(BaseModel):
    model: str = "local"
    """``local`` (offline MiniLM), ``openai:<model>``, ``ollama:<model>``; with ``EMBEDDING_BASE_URL``, any
    OpenAI-compatible server."""
    base_url: HttpUrl | None = None
    api_key: SecretStr | None = None
    batch_size: int = Field(default=64, ge=1, le=2048)
    threads: int = Field(default=0, ge=0, le=256)
    """Threads for the local embedder; 0 lets onnxruntime use every core."""

    @field_validator("model")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        if value != "local" and ":" not in value:
            raise ValueError(f"'{value}' is neither 'local' nor provider:model (e.g. openai:text-embedding-3-small)")
        return value


class KnowledgeSettings(BaseModel):
    max_file_bytes: int = Field(default=20_000_000, ge=1)
    """Files larger than this are skipped with a message."""
    chunk_tokens: int = Field(default=200, ge=32, le=8192)
    chunk_overlap: int = Field(default=30, ge=0, le=1024)
    sources_secret_key: SecretStr | None = None
    """Seals the tokens of synced sources at rest (``threadwise sources key`` makes one); a token can also be named
    by the environment variable that holds it instead."""


class QueueSettings(BaseModel):
    """The durable job queue between the platform listeners and the workers that answer."""

    concurrency: int = Field(default=4, ge=1, le=100)
    """Answers each worker process works on at once; it takes as many questions again in reserve, ready for a slot."""
    max_age_seconds: float = Field(default=600.0, gt=0, le=86_400)
    """A question older than this when its job starts gets an apology instead of a late answer."""
    retry_attempts: int = Field(default=5, ge=1, le=20)
    """Attempts per job when delivering fails (network errors, platform outages); backoff between them."""
    retry_delay: float = Field(default=2.0, ge=0, le=600)
    """Seconds before a failed job's first retry; doubles each attempt (at most five minutes)."""
    stalled_after_seconds: float = Field(default=60.0, ge=0.5, le=3600)
    """A job whose worker sent no heartbeat for this long (the worker died) is picked up by another."""
    update_interval: float = Field(default=1.0, ge=0, le=60)
    """Seconds between edits of the answer while it is being written (platform rate limits)."""
    poll_interval: float = Field(default=1.0, ge=0.05, le=30)
    """Seconds between a worker's looks for new questions when it cannot LISTEN for them
    (``DATABASE_POOL_MODE=transaction`` without ``DATABASE_LISTEN_URL``)."""


class LimitSettings(BaseModel):
    """How much one person, one channel and one tenant may ask at a time, counted across every replica; 0 means
    no limit. A question over a limit gets a short reply naming it (a 429 on the API) instead of an answer."""

    user_per_minute: int = Field(default=10, ge=0, le=100_000)
    """Questions one person may ask a minute (per platform and workspace or server; on the API, per key)."""
    channel_per_minute: int = Field(default=30, ge=0, le=100_000)
    """Questions a minute in one channel, everyone together (on the API, in one conversation)."""
    tenant_concurrent: int = Field(default=20, ge=0, le=10_000)
    """Answers one tenant (workspace, server) gets written at once; its further questions wait their turn."""


class SentrySettings(BaseModel):
    dsn: SecretStr | None = None
    environment: str | None = None
    traces_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)
    send_message_text: bool = False
    """Off: questions, answers and message text are removed from what is sent to Sentry."""


class LangfuseSettings(BaseModel):
    public_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    host: HttpUrl | None = None


class AdminSettings(BaseModel):
    token: SecretStr | None = None
    """The operator's bearer token for /admin, /metrics and the API; blank means unset (no empty credential
    can ever match). A set token must meet ``core.token_strength.RULE`` in every environment."""

    @field_validator("token", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        return None if isinstance(text, str) and not text.strip() else value

    @field_validator("token")
    @classmethod
    def _must_be_strong(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and (problem := token_strength.weakness(value.get_secret_value())) is not None:
            raise ValueError(f"{problem}; it needs {token_strength.RULE}; {token_strength.HINT}")
        return value


class Settings(BaseSettings):
    """All of Threadwise's configuration, from the environment and an optional ``.env`` file."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
        validate_default=True,
    )

    environment: Environment = "development"
    app: AppSettings = AppSettings()
    database: DatabaseSettings = DatabaseSettings()
    log: LogSettings = LogSettings()
    web: WebSettings = WebSettings()
    slack: SlackSettings = SlackSettings()
    discord: DiscordSettings = DiscordSettings()
    llm: LLMSettings = LLMSettings()
    agent: AgentSettings = AgentSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    knowledge: KnowledgeSettings = KnowledgeSettings()
    queue: QueueSettings = QueueSettings()
    limits: LimitSettings = LimitSettings()
    sentry: SentrySettings = SentrySettings()
    langfuse: LangfuseSettings = LangfuseSettings()
    admin: AdminSettings = AdminSettings()

    @model_validator(mode="after")
    def _production_needs_real_secrets(self) -> Self:
        if self.environment != "production":
            return self
        # The token's strength is checked wherever it is set; production also refuses to run without one.
        if self.admin.token is None:
            raise ValueError(
                f"ENVIRONMENT=production needs ADMIN_TOKEN set (a token of {token_strength.RULE}); "
                f"{token_strength.HINT}"
            )
        return self

    def secret_values(self) -> list[str]:
        """Every configured secret, so log rendering can mask them wherever they appear."""
        found: list[str] = []

        def walk(model: BaseModel) -> None:
            for name in type(model).model_fields:
                value = getattr(model, name)
                if isinstance(value, SecretStr):
                    found.append(value.get_secret_value())
                elif isinstance(value, BaseModel):
                    walk(value)

        walk(self)
        # Database URLs hold a password inside; mask the password on its own too.
        if self.database.url is not None:
            password = make_url(self.database.url.get_secret_value()).password
            if password:
                found.append(str(password))
        return [value for value in found if len(value) >= 4]


def env_name(location: tuple[str | int, ...]) -> str:
    """The environment variable a validation error location refers to: ('slack', 'bot_token') → SLACK_BOT_TOKEN."""
    return "_".join(str(part) for part in location).upper()


def load_settings(**overrides: object) -> Settings:
    """Read the configuration, turning validation failures into :class:`ConfigurationError`."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigurationError(describe_validation_error(error)) from None


def describe_validation_error(error: ValidationError) -> list[str]:
    """One line per problem, naming the variable and never echoing its (possibly secret) value."""
    groups = {name for name, field in Settings.model_fields.items() if isinstance(field.default, BaseModel)}
    problems: list[str] = []
    for detail in error.errors(include_input=False, include_url=False):
        message = str(detail["msg"]).removeprefix("Value error, ")
        location = detail["loc"]
        whole_group_check = len(location) == 0 or (len(location) == 1 and location[0] in groups)
        # Checks across a whole group write messages that already name their variables.
        problems.append(message if whole_group_check else f"{env_name(location)}: {message}")
    return problems

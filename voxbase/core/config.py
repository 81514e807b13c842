"""Settings: `VOXBASE_*` environment variables, then an optional TOML file, then defaults.

The TOML file is named by `VOXBASE_CONFIG_FILE`; its keys are the field names below
(`database_url = "..."`). Every value is validated at start-up.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg", "mysql+asyncmy", "mariadb+asyncmy")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VOXBASE_", extra="forbid", validate_default=True)

    # Service
    environment: Literal["development", "test", "production"] = "development"
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    public_base_url: str = "http://127.0.0.1:8000"
    auto_migrate: bool = Field(True, description="Apply database migrations when `serve` starts.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True
    data_dir: Path = Path("var")

    # Database
    database_url: str = Field(
        "", description="SQLAlchemy async URL; empty means SQLite in data_dir."
    )
    database_echo: bool = False
    sqlite_busy_timeout_ms: int = Field(5000, ge=0)
    # Group commit (docs/adr/1000-group-commit.md): the hot-path writes of one process share
    # a transaction, at most this many per group, waiting at most this long for company.
    write_group_max: int = Field(64, ge=1, le=1000)
    write_group_wait_ms: float = Field(0, ge=0, le=50)
    usage_fast_path: bool = Field(
        True, description="Single usage events take the lean Core path when they can."
    )

    # Auth
    secret_key: SecretStr | None = Field(
        None, description="JWT signing key; generated and kept in data_dir when unset."
    )
    access_token_ttl_seconds: int = Field(900, ge=30, le=86400)
    principal_cache_ttl_seconds: float = Field(
        30, ge=0, le=300, description="Authenticated callers are cached this long; 0: off."
    )
    refresh_token_ttl_days: int = Field(30, ge=1, le=365)
    email_token_ttl_minutes: int = Field(60 * 24, ge=5)
    password_reset_ttl_minutes: int = Field(30, ge=5)
    argon2_time_cost: int = Field(2, ge=1)
    argon2_memory_kib: int = Field(19456, ge=8)
    argon2_parallelism: int = Field(1, ge=1)

    # Rate limits (`limits` notation, e.g. "5/minute")
    ratelimit_storage_url: str = "memory://"
    login_limit_per_account_ip: str = Field(
        "5/minute", description="Sign-in attempts per account from one client address."
    )
    login_limit_per_account: str = Field(
        "100/hour",
        description="Sign-in attempts per account from all addresses together: far above the "
        "per-address limit, so guessing from many addresses slows down while the owner, on "
        "their own address, still gets in.",
    )
    login_limit_per_ip: str = "30/minute"
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks of reverse proxies whose X-Forwarded-For names the "
        "client (rate limits, sessions, audit); empty: the socket's peer is the client.",
    )
    reset_limit_per_ip: str = "10/minute"
    register_limit_per_ip: str = "20/minute"

    # Email
    email_backend: Literal["smtp", "log"] = "smtp"
    email_from: str = "Voxbase <no-reply@localhost>"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = 10.0

    # Google / OpenID Connect sign-in
    google_client_id: str | None = None
    google_issuer: str = "https://accounts.google.com"

    # Product profile (voxbase/profiles/presets/<name>.toml, or a path to a TOML file):
    # meters, plans, limits, features, pricing tiers.
    profile: str = Field("general", description="Preset name or path to a profile TOML file.")
    # Retention (docs/privacy.md): periods per policy that beat the profile's, e.g.
    # VOXBASE_RETENTION='{"transcripts": "14d"}'; an administrator's override beats these.
    retention: dict[str, str] = Field(default_factory=dict)
    purge_batch_size: int = Field(
        500, ge=1, le=10000, description="Rows per transaction of a retention purge."
    )

    # Billing and metering
    payment_provider: Literal["manual", "stripe"] = "manual"
    stripe_api_key: SecretStr | None = None
    stripe_api_base: str | None = Field(None, description="Override (tests: a local server).")
    stripe_webhook_secret: SecretStr | None = None
    stripe_webhook_tolerance_seconds: int = Field(300, ge=1)
    time_card_activation_limit: str = "10/hour"
    # Timed sessions (live, voice, phone; docs/adr/0800): the most session time one session
    # may hold when its caller names no cap, and how long a hold lives without a heartbeat.
    timed_session_cap_seconds: int = Field(4 * 3600, ge=1, le=7 * 86400)
    timed_session_grace_seconds: int = Field(600, ge=10, le=86400)
    # Live ingest (ADR 1012): a segment batch renews the paid hold (a heartbeat) only when this
    # process's last beat of the session is older than this, or the hold would expire or the
    # paid time run out within it; 0 beats on every batch. Each WebSocket keeps at most
    # `live_max_in_flight` messages being stored (or answered) while it reads on.
    live_beat_interval_seconds: float = Field(5.0, ge=0, le=60)
    live_max_in_flight: int = Field(8, ge=1, le=256)

    # Telephony (docs/telephony.md): "simulated" walks calls through their steps offline;
    # "twilio" places them through the Twilio SDK and takes Twilio's signed webhooks.
    telephony_provider: Literal["simulated", "twilio"] = "simulated"
    telephony_from_number: str = Field(
        "+15005550006", description="The caller id calls are placed from (E.164)."
    )
    telephony_default_region: str = Field(
        "US", description="Region assumed for numbers given without a +country code."
    )
    telephony_media_stream_url: str | None = Field(
        None, description="wss:// URL of the voice agent the answered call is connected to."
    )
    telephony_simulated_step_seconds: float = Field(
        1.0, ge=0, le=60, description="Simulated provider: seconds between a call's steps."
    )
    telephony_simulated_call_seconds: int = Field(
        42, ge=0, description="Simulated provider: how long an answered call lasts."
    )
    telephony_sms_from_number: str | None = Field(
        None, description="The number texts come from (default: the calls' caller id)."
    )
    telephony_sms_help_text: str = Field(
        "Voxbase texts on behalf of its users. Reply STOP to opt out, START to opt back in.",
        max_length=320,
        description="The answer to HELP/INFO.",
    )
    sms_opt_out_key: SecretStr | None = Field(
        None,
        description="Key of the opt-out hashes (HMAC of a number that texted STOP); default: "
        "derived from secret_key. Set it to the old secret_key before rotating that (ADR 1252).",
    )
    telephony_sms_reply_engine: Literal["template", "llm"] = Field(
        "template", description="AI replies to texts: offline template, or the VOXBASE_LLM_* API."
    )
    # Emails sent for users (telephony): the SMTP server above, or SendGrid's API.
    email_delivery: Literal["smtp", "sendgrid", "log"] = "smtp"
    sendgrid_api_key: SecretStr | None = None
    sendgrid_api_base: str | None = Field(None, description="Override (tests: a local server).")
    sendgrid_webhook_public_key: str | None = Field(
        None, description="The event webhook's verification key (base64), from SendGrid."
    )
    sendgrid_webhook_tolerance_seconds: int = Field(300, ge=1)
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_api_base: str | None = Field(None, description="Override (tests: a local server).")

    # LiveKit rooms for voice sessions (docs/assistants.md): join tokens at start, webhooks in
    livekit_url: str | None = Field(None, description="wss://… given to clients with tokens.")
    livekit_api_key: str | None = None
    livekit_api_secret: SecretStr | None = None
    livekit_token_ttl_seconds: int = Field(6 * 3600, ge=60, le=7 * 86400)

    # Ad networks' signed server-to-server callbacks (docs/monetization.md, ADR 0860): with a
    # secret, ad views earn minutes only once POST /v1/webhooks/ads has confirmed them.
    ads_callback_secret: SecretStr | None = None
    ads_callback_tolerance_seconds: int = Field(300, ge=1, le=86400)

    # Request bodies, refused at the edge before authentication (core/bodies.py)
    json_body_max_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest non-upload request body (413 beyond)."
    )
    json_max_depth: int = Field(
        32, ge=4, le=256, description="Deepest nesting of arrays/objects in a JSON body (422)."
    )

    # Redis (rate limits, realtime fan-out, jobs) when configured
    redis_url: str | None = None

    # Background jobs (huey): "sqlite" keeps the queue in data_dir/jobs.db (no server needed);
    # "redis" (redis_url) or "postgresql" (jobs_postgres_dsn) for many workers on many hosts.
    jobs_backend: Literal["sqlite", "redis", "postgresql"] = "sqlite"
    jobs_postgres_dsn: str | None = None
    jobs_workers: int = Field(2, ge=1, le=64)
    embedded_worker: bool = Field(True, description="`serve` also starts a job worker process.")

    # Conversations: live fan-out, guidance and summary engines, LLM provider, documents
    realtime_backend: Literal["memory", "redis"] = Field(
        "memory", description="redis: live events cross processes over Redis pub/sub."
    )
    guidance_engine: Literal["cues", "llm"] = "cues"
    summary_engine: Literal["extractive", "llm"] = "extractive"
    content_engine: Literal["offline", "llm"] = Field(
        "offline", description="Posts from conversations: offline templates, or the LLM (vision)."
    )
    llm_base_url: str | None = Field(None, description="OpenAI-compatible API, e.g. .../v1")
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(20.0, gt=0)
    search_rank_window: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="GET /v1/search ranks the caller's newest this many matches per page window.",
    )
    documents_max_bytes: int = Field(20 * 1024 * 1024, ge=1024)
    audio_max_bytes: int = Field(
        100 * 1024 * 1024, ge=1024, description="Largest recording uploaded to a conversation."
    )
    documents_ocr: bool = Field(True, description="OCR uploaded images (rapidocr, offline).")
    documents_max_text_chars: int = Field(
        2_000_000, ge=1000, description="Extracted text kept per document; the rest is dropped."
    )
    documents_max_attempts: int = Field(
        3, ge=1, le=20, description="Extraction attempts before a document is marked failed."
    )
    embeddings_base_url: str | None = Field(
        None, description="OpenAI-compatible embeddings API (.../v1); unset: embeddings disabled"
    )
    embeddings_api_key: SecretStr | None = None
    embeddings_model: str = "text-embedding-3-small"
    geoip_database: Path | None = Field(
        None,
        description="A MaxMind .mmdb (GeoLite2-City/Country) for sessions' country and city.",
    )

    # Outgoing webhooks (docs/webhooks.md)
    webhooks_allow_private_networks: bool = Field(
        False,
        description="Allow deliveries to loopback, private and link-local addresses (SSRF "
        "guard off: only for a trusted network or tests).",
    )
    webhooks_timeout_seconds: float = Field(15.0, gt=0, le=60)
    webhooks_disable_after_days: float = Field(
        5, gt=0, description="An endpoint whose every attempt failed this long is disabled."
    )
    webhooks_secret_overlap_hours: float = Field(
        24, ge=0, le=24 * 30, description="After a rotation the old secret also signs this long."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get("VOXBASE_CONFIG_FILE")
        if config_file:
            if not Path(config_file).is_file():
                raise ConfigError([f"VOXBASE_CONFIG_FILE: no such file: {config_file}"])
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)

    @field_validator("geoip_database")
    @classmethod
    def _geoip_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no GeoIP database at {value}")
        return value

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if value and not value.startswith(SUPPORTED_DRIVERS):
            raise ValueError(
                "must start with one of " + ", ".join(f"{d}://" for d in SUPPORTED_DRIVERS)
            )
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxy_networks(cls, value: object) -> object:
        """`10.0.0.1,10.1.0.0/16` in the environment; each must be an address or a network."""
        items = (
            [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value
        )
        for item in items if isinstance(items, list) else []:
            ipaddress.ip_network(item, strict=False)  # ValueError names the bad one
        return items

    @field_validator(
        "login_limit_per_account",
        "login_limit_per_account_ip",
        "login_limit_per_ip",
        "reset_limit_per_ip",
        "register_limit_per_ip",
        "time_card_activation_limit",
    )
    @classmethod
    def _rate_limit_notation(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError as exc:
            raise ValueError(f"not a rate limit like '5/minute': {exc}") from exc
        return value

    @field_validator("ratelimit_storage_url")
    @classmethod
    def _storage_scheme(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://", "async+redis://")):
            raise ValueError("must be memory:// or a redis:// URL")
        return value

    @field_validator("retention")
    @classmethod
    def _retention_periods(cls, value: dict[str, str]) -> dict[str, str]:
        from voxbase.privacy.policies import check_policies

        problems = check_policies(value, "retention")
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @model_validator(mode="after")
    def _production_needs_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key is None:
            raise ValueError("VOXBASE_SECRET_KEY must be set when environment is production")
        return self

    @model_validator(mode="after")
    def _stripe_configured(self) -> Settings:
        if self.payment_provider == "stripe" and self.stripe_api_key is None:
            raise ValueError(
                "VOXBASE_STRIPE_API_KEY must be set when VOXBASE_PAYMENT_PROVIDER is stripe"
            )
        return self

    @model_validator(mode="after")
    def _twilio_configured(self) -> Settings:
        if self.telephony_provider == "twilio" and not (
            self.twilio_account_sid and self.twilio_auth_token
        ):
            raise ValueError(
                "VOXBASE_TWILIO_ACCOUNT_SID and VOXBASE_TWILIO_AUTH_TOKEN must be set when "
                "VOXBASE_TELEPHONY_PROVIDER is twilio"
            )
        return self

    @model_validator(mode="after")
    def _sendgrid_configured(self) -> Settings:
        if self.email_delivery == "sendgrid" and self.sendgrid_api_key is None:
            raise ValueError(
                "VOXBASE_SENDGRID_API_KEY must be set when VOXBASE_EMAIL_DELIVERY is sendgrid"
            )
        return self

    @model_validator(mode="after")
    def _jobs_backend_reachable(self) -> Settings:
        if self.jobs_backend == "redis" and not self.redis_url:
            raise ValueError("VOXBASE_REDIS_URL must be set when VOXBASE_JOBS_BACKEND is redis")
        if self.jobs_backend == "postgresql" and not self.jobs_postgres_dsn:
            raise ValueError(
                "VOXBASE_JOBS_POSTGRES_DSN must be set when VOXBASE_JOBS_BACKEND is postgresql"
            )
        return self

    @model_validator(mode="after")
    def _conversation_backends(self) -> Settings:
        if self.realtime_backend == "redis" and not self.redis_url:
            raise ValueError("VOXBASE_REDIS_URL must be set when VOXBASE_REALTIME_BACKEND is redis")
        engines = (self.guidance_engine, self.summary_engine, self.content_engine)
        if "llm" in engines and not self.llm_base_url:
            raise ValueError("VOXBASE_LLM_BASE_URL must be set to use an llm engine")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'voxbase.db').as_posix()}"

    def signing_key(self) -> str:
        """The JWT key: configured, or generated once and kept (0600) in data_dir."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        key_file = self.data_dir / "secret.key"
        if key_file.exists():
            return key_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        key_file.touch(mode=0o600)
        key_file.write_text(key)
        return key


class ConfigError(Exception):
    """Start-up configuration is invalid; `problems` holds one readable line per bad value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"]) or "settings"
            name = f"VOXBASE_{field.upper()}" if error["loc"] else "settings"
            secret = any(word in field for word in ("secret", "password"))
            shown = "" if secret or not error["loc"] else f" (got {error.get('input')!r})"
            problems.append(f"{name}: {error['msg']}{shown}")
        raise ConfigError(problems) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()

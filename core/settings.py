"""Typed settings, read once from the environment, with embedded defaults.

Every other module receives a `Settings`; nothing else reads `os.environ`.
"""

from __future__ import annotations

import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit

from core.proxies import Network, parse_networks

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Rasa 3.6 and the action server keep Rasa's pins in their own environment (README); `make setup`
# creates it here.
RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"


class SettingsError(ValueError):
    """A setting has a value Maak cannot use."""


@dataclass(frozen=True)
class WhatsAppSettings:
    """The Cloud API app's settings (WHATSAPP_* variables)."""

    verify_token: str
    app_secret: str
    access_token: str
    phone_number_id: str
    api_base: str


@dataclass(frozen=True)
class TelegramSettings:
    """The bot's settings (TELEGRAM_* variables)."""

    bot_token: str
    webhook_secret: str
    api_base: str
    oncall_chat_ids: tuple[str, ...]


@dataclass(frozen=True)
class Settings:
    """Everything an operator can configure, with the embedded defaults of the README."""

    port: int = 8080
    host: str = "0.0.0.0"
    var_dir: Path = PROJECT_ROOT / "var"
    models_dir: Path = PROJECT_ROOT / "models"
    database_url: str | None = None
    redis_url: str | None = None
    secret: bytes = b""
    data_key: bytes = b""
    retention_days: int = 30
    handoff_sla_seconds: int = 60
    rasa_port: int = 5005
    action_port: int = 5055
    # Loopback by default: Rasa, the action server and the gateway's internal API are never exposed
    # to the internet (a private address when the action server runs on another machine).
    internal_host: str = "127.0.0.1"
    internal_port: int = 8081
    max_text_chars: int = 2000
    rate_limit_messages: int = 12
    rate_limit_seconds: int = 10
    whatsapp: WhatsAppSettings | None = None
    telegram: TelegramSettings | None = None
    log_level: str = "INFO"
    # Where counsellors reach the console from outside (links in on-call alerts).
    public_url: str = ""
    # The Python of Rasa's environment, which runs Rasa, the action server and the model tools.
    rasa_python: Path = RASA_PYTHON
    # Reverse proxies whose X-Forwarded-For is believed (core.proxies): per-address limits see women, not the proxy.
    trusted_proxies: tuple[Network, ...] = ()
    # New web-chat conversations per client address per hour that the bot answers; past it her
    # words are kept for a human and she gets the numbers (a flood must not spend Rasa).
    chat_new_conversations_per_hour: int = 60
    # Web-chat sockets open at once from one client address, per gateway; past it a new one is
    # refused at the handshake and her page retries (many women may share a carrier's address).
    chat_connections_per_address: int = 100
    # Addresses that are not women (load tests, a partner's kiosk): no per-address limit.
    chat_limits_exempt: tuple[Network, ...] = ()

    @property
    def secure_cookies(self) -> bool:
        """Console cookies only over TLS: counsellors reach Maak over HTTPS (a TLS proxy in front)."""
        return self.public_url.startswith("https://")

    @property
    def store_url(self) -> str:
        """SQLAlchemy URL of the gateway store."""
        return self.database_url or f"sqlite:///{self.var_dir / 'maak.db'}"

    @property
    def tracker_url(self) -> str:
        """SQLAlchemy URL of Rasa's tracker store (same database when one is configured)."""
        return self.database_url or f"sqlite:///{self.var_dir / 'rasa-tracker.db'}"

    @property
    def redis_db(self) -> int:
        """The database number of `REDIS_URL` (0 when none is given)."""
        path = urlsplit(self.redis_url).path if self.redis_url else ""
        return int(path.lstrip("/") or 0)

    @property
    def rasa_url(self) -> str:
        return f"http://{self.internal_host}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://{self.internal_host}:{self.action_port}/webhook"

    @property
    def gateway_internal_url(self) -> str:
        """The gateway's internal API, on its own listener (never the public port)."""
        host = "127.0.0.1" if self.internal_host in ("0.0.0.0", "::") else self.internal_host
        return f"http://{host}:{self.internal_port}"

    def _token(self, purpose: bytes) -> str:
        """A bearer token for one internal hop, derived from the secret: one leaked opens no other."""
        import hashlib
        import hmac

        return hmac.new(self.secret, purpose, hashlib.sha256).hexdigest()

    @property
    def internal_token(self) -> str:
        """The action server's token for the gateway's internal API."""
        return self._token(b"maak-internal-api")

    @property
    def rasa_token(self) -> str:
        """The gateway's token for Rasa's HTTP API (parse, tracker events)."""
        return self._token(b"maak-rasa-api")

    @property
    def action_token(self) -> str:
        """Rasa's token for the action server."""
        return self._token(b"maak-action-server")

    def rasa_environment(self) -> dict[str, str]:
        """Environment variables that `endpoints.yml` reads, for the Rasa and action processes."""
        redis = urlsplit(self.redis_url) if self.redis_url else None
        return {
            "MAAK_TRACKER_URL": self.tracker_url,
            "MAAK_ACTION_URL": self.action_url,
            "MAAK_LOCK_STORE": "redis" if redis else "in_memory",
            "MAAK_REDIS_HOST": (redis.hostname or "127.0.0.1") if redis else "127.0.0.1",
            "MAAK_REDIS_PORT": str((redis.port or 6379) if redis else 6379),
            "MAAK_REDIS_DB": str(self.redis_db),
            "MAAK_REDIS_PASSWORD": (redis.password or "") if redis else "",
            "MAAK_ACTION_TOKEN": self.action_token,
        }

    def action_server_environment(self) -> dict[str, str]:
        """What the action server needs beyond `rasa_environment`: the way to the gateway."""
        return {"MAAK_GATEWAY_URL": self.gateway_internal_url, "MAAK_INTERNAL_TOKEN": self.internal_token}

    def rasa_server_environment(self) -> dict[str, str]:
        """What Rasa needs beyond `rasa_environment`: its API's token (read at start, never on a
        command line) and the data key its tracker store encrypts with."""
        return {"MAAK_RASA_TOKEN": self.rasa_token, "MAAK_DATA_KEY": self.data_key.decode()}


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be a whole number, not {raw!r}") from exc
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}")
    return value


def keep_files_private() -> None:
    """From now on this process, and every process it starts, makes files that only its own user
    can read (0600, folders 0700): `var/` holds the keys, the embedded database and Rasa's
    tracker store, which hold her words."""
    os.umask(0o077)


def write_private(path: Path, data: bytes) -> None:
    """Write a new file (in a folder made 0700 if needed) readable by Maak's user alone from its
    first byte: creating it 0644 and then changing its mode leaves a moment when anyone can read it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def _key(env: Mapping[str, str], name: str, var_dir: Path, filename: str) -> bytes:
    """A key from the environment, or one generated once into `var/` so restarts keep it."""
    raw = env.get(name)
    if raw:
        return raw.encode()
    path = var_dir / filename
    if path.exists():
        return path.read_bytes().strip()
    value = secrets.token_urlsafe(32).encode()
    write_private(path, value)
    logger.warning("%s is not set: generated one into %s (set it in production)", name, path)
    return value


def _whatsapp(env: Mapping[str, str]) -> WhatsAppSettings | None:
    names = ("WHATSAPP_VERIFY_TOKEN", "WHATSAPP_APP_SECRET", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID")
    if not all(env.get(n) for n in names):
        return None
    verify_token, app_secret, access_token, phone_number_id = (env[n] for n in names)
    return WhatsAppSettings(
        verify_token, app_secret, access_token, phone_number_id,
        api_base=env.get("WHATSAPP_API_BASE", "https://graph.facebook.com/v21.0"),
    )


def _telegram(env: Mapping[str, str]) -> TelegramSettings | None:
    if not (env.get("TELEGRAM_BOT_TOKEN") and env.get("TELEGRAM_WEBHOOK_SECRET")):
        return None
    chats = tuple(c.strip() for c in env.get("TELEGRAM_ONCALL_CHAT_IDS", "").split(",") if c.strip())
    return TelegramSettings(
        bot_token=env["TELEGRAM_BOT_TOKEN"],
        webhook_secret=env["TELEGRAM_WEBHOOK_SECRET"],
        api_base=env.get("TELEGRAM_API_BASE", "https://api.telegram.org/bot"),
        oncall_chat_ids=chats,
    )


def _networks(env: Mapping[str, str], name: str) -> tuple[Network, ...]:
    try:
        return parse_networks(env.get(name, ""))
    except ValueError as exc:
        raise SettingsError(f"{name} must list addresses or CIDRs, comma-separated: {exc}") from exc


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the settings of CONTRACTS from `env` (default: the process environment)."""
    env = os.environ if env is None else env
    var_dir = Path(env.get("MAAK_VAR_DIR") or PROJECT_ROOT / "var").resolve()
    level = env.get("MAAK_LOG_LEVEL", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise SettingsError(f"MAAK_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {level!r}")
    redis_url = env.get("REDIS_URL") or None
    if redis_url and (urlsplit(redis_url).scheme not in ("redis", "rediss", "unix")
                      or not (urlsplit(redis_url).path.lstrip("/") or "0").isdigit()):
        raise SettingsError(f"REDIS_URL must look like redis://host:6379/0, not {redis_url!r}")
    database_url = env.get("DATABASE_URL") or None
    if database_url and database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url[len("postgres://"):]
    return Settings(
        port=_int(env, "MAAK_PORT", 8080, 1),
        host=env.get("MAAK_HOST", "0.0.0.0"),
        var_dir=var_dir,
        models_dir=Path(env.get("MAAK_MODELS_DIR") or PROJECT_ROOT / "models").resolve(),
        database_url=database_url,
        redis_url=redis_url,
        secret=_key(env, "MAAK_SECRET", var_dir, "secret.key"),
        data_key=_key(env, "MAAK_DATA_KEY", var_dir, "data.key"),
        retention_days=_int(env, "MAAK_RETENTION_DAYS", 30, 1),
        handoff_sla_seconds=_int(env, "MAAK_HANDOFF_SLA_SECONDS", 60, 1),
        rate_limit_messages=_int(env, "MAAK_RATE_LIMIT_MESSAGES", 12, 1),
        rate_limit_seconds=_int(env, "MAAK_RATE_LIMIT_SECONDS", 10, 1),
        rasa_port=_int(env, "MAAK_RASA_PORT", 5005, 1),
        internal_host=env.get("MAAK_INTERNAL_HOST") or "127.0.0.1",
        internal_port=_int(env, "MAAK_INTERNAL_PORT", 8081, 1),
        action_port=_int(env, "MAAK_ACTION_PORT", 5055, 1),
        whatsapp=_whatsapp(env),
        telegram=_telegram(env),
        log_level=level,
        public_url=(env.get("MAAK_PUBLIC_URL") or f"http://localhost:{_int(env, 'MAAK_PORT', 8080, 1)}").rstrip("/"),
        rasa_python=Path(env.get("MAAK_RASA_PYTHON") or RASA_PYTHON),
        trusted_proxies=_networks(env, "MAAK_TRUSTED_PROXIES"),
        chat_new_conversations_per_hour=_int(env, "MAAK_CHAT_NEW_CONVERSATIONS_PER_HOUR", 60, 1),
        chat_connections_per_address=_int(env, "MAAK_CHAT_CONNECTIONS_PER_ADDRESS", 100, 1),
        chat_limits_exempt=_networks(env, "MAAK_CHAT_LIMITS_EXEMPT"),
    )

"""Settings, read once from FOOTFALL_* environment variables and passed down explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from footfall.exceptions import ConfigurationError

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "footfall"


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ConfigurationError(f"{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise ConfigurationError(f"{name} must be >= 0, got {value}")
    return value


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
DEFAULT_RETRY_SCHEDULE = (60.0, 120.0, 240.0, 480.0, 3600.0)


def _duration(name: str, text: str) -> float:
    """Seconds in ``text``: a number and a unit (ms, s, m, h or d), e.g. ``90s``, ``3d``."""
    number = text.strip().lower()
    for unit in sorted(_UNITS, key=len, reverse=True):
        if number.endswith(unit):
            try:
                value = float(number.removesuffix(unit)) * _UNITS[unit]
            except ValueError:
                break
            if value > 0:
                return value
            break
    raise ConfigurationError(
        f"{name}: {text.strip()!r} is not a duration (a positive number and ms, s, m, h or d)"
    )


def _durations(env: Mapping[str, str], name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    return tuple(_duration(name, part) for part in raw.split(","))


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    return default if not raw else _duration(name, raw)


@dataclass(frozen=True)
class Settings:
    """Everything Footfall can be configured with; see the README's Configuration section."""

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    max_body_bytes: int = 20 * 1024
    max_header_bytes: int = 16 * 1024
    max_batch_body_bytes: int = 16 * 1024 * 1024
    request_timeout_seconds: float = 20.0
    max_connections: int = 1000
    rate_limit_per_second: float = 0.0
    group_commit_max_events: int = 2000
    busy_timeout_ms: int = 5000
    db_pool_size: int = 8
    db_pool_timeout_seconds: float = 5.0
    token_ttl_seconds: int = 24 * 3600
    key_cache_seconds: float = 10.0
    past_events_max_age_days: int = 0
    failed_event_max_bytes: int = 64 * 1024
    failed_events_retention_days: int = 30
    type_rules_refresh_seconds: float = 5.0
    max_new_event_types_per_day: int = 1000
    max_new_param_names_per_day: int = 10_000
    log_level: str = "INFO"
    webhook_retry_schedule: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE  # the last one repeats
    webhook_max_age_seconds: float = 3 * 86400.0
    webhook_timeout_seconds: float = 10.0
    webhook_allow_hosts: str = ""
    webhook_concurrency: int = 16
    webhook_log_retention_days: int = 7
    shutdown_grace_seconds: float = 10.0  # a stopping worker's wait for deliveries in flight
    workflows_max: int = 100  # per workspace
    workflow_max_blocks: int = 50  # per workflow
    workflow_max_active_per_contact: int = 100  # runs going at once, all workflows together
    workflow_run_retention_days: int = 90  # ended runs are kept this long
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'footfall.db'}"

    @property
    def sqlite_path(self) -> Path | None:
        """The SQLite file, absolute (``sqlite:///name`` is relative to the working directory,
        ``sqlite:////path`` absolute); None on PostgreSQL."""
        url = self.resolved_database_url
        if not url.startswith("sqlite:///"):
            return None
        return Path(url.removeprefix("sqlite:///")).absolute()

    def database_label(self) -> str:
        """The database for an operator's eyes: a SQLite URL with its absolute path, a
        PostgreSQL URL without its password."""
        path = self.sqlite_path
        if path is not None:
            return f"sqlite:///{path}"
        parts = urlsplit(self.resolved_database_url)
        netloc = parts.netloc
        if "@" in netloc:
            user, host = netloc.rsplit("@", 1)
            netloc = f"{user.split(':', 1)[0]}@{host}"
        query = [(k, v) for k, v in parse_qsl(parts.query) if k.lower() != "password"]
        return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query)))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        data_dir = Path(env.get("FOOTFALL_DATA_DIR") or DEFAULT_DATA_DIR).expanduser()
        url = env.get("FOOTFALL_DATABASE_URL", "").strip()
        if url and not url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ConfigurationError(
                f"FOOTFALL_DATABASE_URL must start with sqlite:/// or postgresql://, got {url!r}"
            )
        level = env.get("FOOTFALL_LOG_LEVEL", "INFO").upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ConfigurationError(
                f"FOOTFALL_LOG_LEVEL must be DEBUG/INFO/WARNING/ERROR, got {level!r}"
            )
        if _float(env, "FOOTFALL_REQUEST_TIMEOUT_SECONDS", 20.0) == 0:
            raise ConfigurationError("FOOTFALL_REQUEST_TIMEOUT_SECONDS must be > 0")
        return cls(
            data_dir=data_dir,
            database_url=url,
            max_body_bytes=_int(env, "FOOTFALL_MAX_BODY_BYTES", 20 * 1024, minimum=1),
            max_header_bytes=_int(env, "FOOTFALL_MAX_HEADER_BYTES", 16 * 1024, minimum=1024),
            max_batch_body_bytes=_int(
                env, "FOOTFALL_MAX_BATCH_BODY_BYTES", 16 * 1024 * 1024, minimum=1
            ),
            request_timeout_seconds=_float(env, "FOOTFALL_REQUEST_TIMEOUT_SECONDS", 20.0),
            max_connections=_int(env, "FOOTFALL_MAX_CONNECTIONS", 1000, minimum=1),
            rate_limit_per_second=_float(env, "FOOTFALL_RATE_LIMIT", 0.0),
            group_commit_max_events=_int(env, "FOOTFALL_GROUP_COMMIT_MAX_EVENTS", 2000, minimum=1),
            busy_timeout_ms=_int(env, "FOOTFALL_BUSY_TIMEOUT_MS", 5000),
            db_pool_size=_int(env, "FOOTFALL_DB_POOL_SIZE", 8, minimum=1),
            db_pool_timeout_seconds=_float(env, "FOOTFALL_DB_POOL_TIMEOUT_SECONDS", 5.0),
            token_ttl_seconds=_int(env, "FOOTFALL_TOKEN_TTL_SECONDS", 24 * 3600, minimum=1),
            key_cache_seconds=_float(env, "FOOTFALL_KEY_CACHE_SECONDS", 10.0),
            past_events_max_age_days=_int(env, "FOOTFALL_PAST_EVENTS_MAX_AGE_DAYS", 0),
            failed_event_max_bytes=_int(env, "FOOTFALL_FAILED_EVENT_MAX_BYTES", 64 * 1024),
            failed_events_retention_days=_int(
                env, "FOOTFALL_FAILED_EVENTS_RETENTION_DAYS", 30, minimum=1
            ),
            type_rules_refresh_seconds=_float(env, "FOOTFALL_TYPE_RULES_REFRESH_SECONDS", 5.0),
            max_new_event_types_per_day=_int(env, "FOOTFALL_MAX_NEW_EVENT_TYPES_PER_DAY", 1000),
            max_new_param_names_per_day=_int(env, "FOOTFALL_MAX_NEW_PARAM_NAMES_PER_DAY", 10_000),
            log_level=level,
            webhook_retry_schedule=_durations(
                env, "FOOTFALL_WEBHOOK_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE
            ),
            webhook_max_age_seconds=_seconds(env, "FOOTFALL_WEBHOOK_MAX_AGE", 3 * 86400.0),
            webhook_timeout_seconds=_seconds(env, "FOOTFALL_WEBHOOK_TIMEOUT", 10.0),
            webhook_allow_hosts=env.get("FOOTFALL_WEBHOOK_ALLOW_HOSTS", "").strip(),
            webhook_concurrency=_int(env, "FOOTFALL_WEBHOOK_CONCURRENCY", 16, minimum=1),
            shutdown_grace_seconds=_seconds(env, "FOOTFALL_SHUTDOWN_GRACE", 10.0),
            webhook_log_retention_days=_int(
                env, "FOOTFALL_WEBHOOK_LOG_RETENTION_DAYS", 7, minimum=1
            ),
            workflows_max=_int(env, "FOOTFALL_WORKFLOWS_MAX", 100, minimum=1),
            workflow_max_blocks=_int(env, "FOOTFALL_WORKFLOW_MAX_BLOCKS", 50, minimum=2),
            workflow_max_active_per_contact=_int(
                env, "FOOTFALL_WORKFLOW_MAX_ACTIVE_PER_CONTACT", 100, minimum=1
            ),
            workflow_run_retention_days=_int(
                env, "FOOTFALL_WORKFLOW_RUN_RETENTION_DAYS", 90, minimum=1
            ),
        )

"""Settings every service shares; each service subclasses :class:`ServiceSettings`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class ServiceSettings(BaseSettings):
    """Environment variables prefixed ``SPECIMEN_``, shared by every service.

    A service adds its own fields in a subclass; fields that only one service reads carry the
    service name in their variable (``SPECIMEN_USERS_DATABASE_URL``) so that all services can
    run from one environment, as ``make run`` does.
    """

    model_config = SettingsConfigDict(
        env_prefix="SPECIMEN_", extra="ignore", populate_by_name=True, frozen=True
    )

    environment: Environment = Environment.DEVELOPMENT
    data_dir: Path = Path("./data")
    log_level: str = "INFO"
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)
    jwt_issuer: str = "specimen-users"
    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    redis_url: str | None = None
    # Overload (issue 9): a flood is shed at once with 503 + Retry-After instead of queueing
    # until every request times out. At most this many requests run at once per process (0: no
    # limit); one more waits up to request_queue_seconds for a slot.
    max_concurrent_requests: int = Field(default=32, ge=0)
    request_queue_seconds: float = Field(default=1.0, ge=0)
    # A connection per request in flight, so none waits for another's (sized to the limit above
    # when 0); a checkout waiting longer than the timeout is a 503, not a 30 s stall.
    database_pool_size: int = Field(default=0, ge=0)
    database_pool_timeout_seconds: float = Field(default=2.0, gt=0)
    # A body must arrive within body_read_timeout_seconds plus its length at the minimum rate
    # (408 otherwise): a client trickling bytes holds no worker, slot or upstream connection.
    body_read_timeout_seconds: float = Field(default=10.0, gt=0)
    min_upload_bytes_per_second: int = Field(default=64 * 1024, gt=0)
    # JSON nested deeper than this is a 400 before any parser sees it (parsers recurse).
    max_json_depth: int = Field(default=64, gt=0)

    @property
    def resolved_database_pool_size(self) -> int:
        """The pool size: as set, else one connection per request the process admits."""
        return self.database_pool_size or max(self.max_concurrent_requests, 5)

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

"""Settings every service shares; each service subclasses :class:`ServiceSettings`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from urllib.parse import urljoin

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
DEFAULT_MAX_UPLOAD_BYTES = 512 * 1024 * 1024
"""The bulk upload routes' body limit (a cruise's ZIP of frames): streamed to disk, never held."""
DEFAULT_MAX_INFLIGHT_MEGAPIXELS = 16.0
"""Sized from bench/memory_per_pixel.py: the worst route (plankton features on a frame that is
nearly all foreground) peaks at ~81 bytes per pixel, so 16 MP in work is ~1.3 GB, under the
2 GiB limit of the segment and classify containers (k8s/base) with room for the process."""


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
    # The bulk upload routes (ZIPs of frames: a service names its own, the gateway the same
    # paths) take bodies up to this, streamed to disk; JSON bodies keep max_body_bytes there
    # too, since they are read whole.
    max_upload_bytes: int = Field(default=DEFAULT_MAX_UPLOAD_BYTES, gt=0)
    jwt_issuer: str = "specimen-users"
    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    redis_url: str | None = None
    # Bounds each Redis call (rate limits, login throttling): past it they count in memory.
    redis_timeout_seconds: float = Field(default=0.5, gt=0, le=30)
    # Where segment, classify and the gateway fetch the recent token revocations; by default
    # the users service that serves the JWKS (see specimen_kit.revocations).
    revocations_url: str | None = None
    revocation_poll_seconds: float = Field(default=0.5, gt=0, le=60)
    revocation_max_staleness_seconds: float = Field(default=60.0, gt=0)
    # Work limits (specimen_kit.work_limits): pixels in work at once per process, how long a
    # request waits for room before a 503, and how long its work may run (None: no limit).
    max_inflight_megapixels: float = Field(default=DEFAULT_MAX_INFLIGHT_MEGAPIXELS, gt=0)
    admission_wait_seconds: float = Field(default=2.0, ge=0, le=60)
    work_deadline_seconds: float | None = Field(default=None, gt=0)
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
    # Prometheus metrics on a port of their own, never the public app port (0: not served).
    # Off by default, so that tests and several services on one host never fight over a port;
    # the deployments set it (k8s: 9090 in every pod, exposed to the monitoring namespace only).
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"  # noqa: S104  # a scraper in another pod must reach it

    @property
    def resolved_revocations_url(self) -> str:
        """``revocations_url``, or ``/.well-known/revocations`` next to the JWKS."""
        if self.revocations_url:
            return self.revocations_url
        return urljoin(self.jwks_url, "/.well-known/revocations")

    @property
    def resolved_database_pool_size(self) -> int:
        """The pool size: as set, else one connection per request the process admits."""
        return self.database_pool_size or max(self.max_concurrent_requests, 5)

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.PRODUCTION

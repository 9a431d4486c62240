"""Gateway settings: where the upstreams are, how long to wait for them, the rate limit."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from specimen_gateway.domain.forwarding import TrustedProxies
from specimen_kit.ratelimit import RateLimit
from specimen_kit.settings import ServiceSettings

JWKS_PATH = "/.well-known/jwks.json"
_RATE_LIMIT_OFF = frozenset({"", "off", "none", "0"})


class GatewaySettings(ServiceSettings):
    """``SPECIMEN_*`` variables the gateway reads on top of the shared ones.

    ``jwks_url`` follows ``SPECIMEN_USERS_URL`` unless ``SPECIMEN_JWKS_URL`` is set, so that
    moving the users service is one variable.
    """

    users_url: str = Field("http://127.0.0.1:8001", validation_alias="SPECIMEN_USERS_URL")
    segment_url: str = Field("http://127.0.0.1:8002", validation_alias="SPECIMEN_SEGMENT_URL")
    classify_url: str = Field("http://127.0.0.1:8003", validation_alias="SPECIMEN_CLASSIFY_URL")
    users_timeout: float = Field(10.0, gt=0, validation_alias="SPECIMEN_USERS_TIMEOUT")
    segment_timeout: float = Field(60.0, gt=0, validation_alias="SPECIMEN_SEGMENT_TIMEOUT")
    classify_timeout: float = Field(120.0, gt=0, validation_alias="SPECIMEN_CLASSIFY_TIMEOUT")
    connect_timeout: float = Field(2.0, gt=0, validation_alias="SPECIMEN_GATEWAY_CONNECT_TIMEOUT")
    max_connections: int = Field(100, gt=0, validation_alias="SPECIMEN_GATEWAY_MAX_CONNECTIONS")
    # Bodies are read whole before going upstream; this bounds the bytes held at once (503 past).
    max_buffered_body_bytes: int = Field(
        256 * 1024 * 1024, gt=0, validation_alias="SPECIMEN_GATEWAY_MAX_BUFFERED_BYTES")
    # Bulk uploads (SPECIMEN_MAX_UPLOAD_BYTES) are spooled to temporary files; this bounds the
    # bytes on disk at once (503 past it), under the pod's /tmp (k8s: a 2 GiB emptyDir).
    max_spooled_body_bytes: int = Field(
        1536 * 1024 * 1024, gt=0, validation_alias="SPECIMEN_GATEWAY_MAX_SPOOLED_BYTES")
    # The gateway only waits on upstreams and clients, so it admits far more than a service.
    max_concurrent_requests: int = Field(
        1000, ge=0, validation_alias="SPECIMEN_GATEWAY_MAX_CONCURRENT_REQUESTS")
    rate_limit_text: str = Field("600/minute", validation_alias="SPECIMEN_GATEWAY_RATE_LIMIT")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, validation_alias="SPECIMEN_CORS_ORIGINS"
    )
    openapi_cache_seconds: float = Field(
        30.0, ge=0, validation_alias="SPECIMEN_GATEWAY_OPENAPI_CACHE_SECONDS"
    )
    # Proxies (the ingress controller) allowed to report the client's address; empty: none,
    # the connection's address is the client.
    trusted_proxies_text: str = Field("", validation_alias="SPECIMEN_TRUSTED_PROXIES")
    # How long the web UI's refresh-token cookie lives: the users service's refresh token
    # lifetime (SPECIMEN_REFRESH_TOKEN_DAYS), after which the token is refused anyway.
    ui_session_days: int = Field(14, gt=0, le=365, validation_alias="SPECIMEN_UI_SESSION_DAYS")

    @model_validator(mode="before")
    @classmethod
    def _jwks_from_users_url(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("jwks_url"):
            users = data.get("SPECIMEN_USERS_URL") or data.get("users_url")
            if users:
                data = {**data, "jwks_url": str(users).rstrip("/") + JWKS_PATH}
        return data

    @field_validator("users_url", "segment_url", "classify_url")
    @classmethod
    def _no_trailing_slash(cls, url: str) -> str:
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"upstream URL {url!r} must start with http:// or https://")
        return url.rstrip("/")

    @field_validator("rate_limit_text")
    @classmethod
    def _parseable_rate_limit(cls, text: str) -> str:
        if text.strip().lower() not in _RATE_LIMIT_OFF:
            RateLimit.parse(text)
        return text

    @field_validator("trusted_proxies_text")
    @classmethod
    def _parseable_trusted_proxies(cls, text: str) -> str:
        TrustedProxies.parse(text)  # raises ValueError naming the bad entry
        return text

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @property
    def rate_limit(self) -> RateLimit | None:
        """The per-client limit, or ``None`` when switched off ("off" or empty)."""
        text = self.rate_limit_text.strip()
        return None if text.lower() in _RATE_LIMIT_OFF else RateLimit.parse(text)

    @property
    def trusted_proxies(self) -> TrustedProxies:
        return TrustedProxies.parse(self.trusted_proxies_text)

    def upstream_urls(self) -> dict[str, str]:
        return {"users": self.users_url, "segment": self.segment_url,
                "classify": self.classify_url}

    def upstream_timeouts(self) -> dict[str, float]:
        return {"users": self.users_timeout, "segment": self.segment_timeout,
                "classify": self.classify_timeout}

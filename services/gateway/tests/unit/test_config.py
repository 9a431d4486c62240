"""Gateway settings from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from specimen_gateway.config import GatewaySettings
from specimen_kit.ratelimit import RateLimit


class TestSettings:
    def test_defaults(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("SPECIMEN_USERS_URL", "SPECIMEN_JWKS_URL", "SPECIMEN_GATEWAY_RATE_LIMIT",
                     "SPECIMEN_CORS_ORIGINS"):
            monkeypatch.delenv(name, raising=False)
        settings = GatewaySettings()
        assert settings.rate_limit == RateLimit(600, 60)
        assert settings.cors_origins == []
        assert settings.upstream_timeouts() == {"users": 10.0, "segment": 60.0, "classify": 120.0}
        assert settings.jwks_url == "http://127.0.0.1:8001/.well-known/jwks.json"

    def test_environment_names(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SPECIMEN_USERS_URL", "http://users:8000/")
        monkeypatch.setenv("SPECIMEN_CORS_ORIGINS", "http://a.example, http://b.example")
        monkeypatch.setenv("SPECIMEN_GATEWAY_RATE_LIMIT", "off")
        monkeypatch.setenv("SPECIMEN_SEGMENT_TIMEOUT", "5")
        monkeypatch.delenv("SPECIMEN_JWKS_URL", raising=False)
        settings = GatewaySettings()
        assert settings.users_url == "http://users:8000"
        assert settings.jwks_url == "http://users:8000/.well-known/jwks.json"
        assert settings.cors_origins == ["http://a.example", "http://b.example"]
        assert settings.rate_limit is None
        assert settings.segment_timeout == 5.0

    def test_explicit_jwks_url_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("SPECIMEN_USERS_URL", "http://users:8000")
        monkeypatch.setenv("SPECIMEN_JWKS_URL", "http://keys/jwks.json")
        assert GatewaySettings().jwks_url == "http://keys/jwks.json"

    def test_a_malformed_rate_limit_is_refused_at_start(self) -> None:
        with pytest.raises(ValidationError, match="10/minute"):
            GatewaySettings(rate_limit_text="lots")

from __future__ import annotations

from pathlib import Path

import httpx

from specimen_kit.problems import PROBLEM_JSON
from specimen_kit.testing import metrics_text
from specimen_kit.tokens import TokenVerifier
from specimen_segment.app import create_app
from specimen_segment.config import SegmentSettings


class TestSkeleton:
    async def test_health_readiness_metrics_and_problem_404(self, tmp_path: Path) -> None:
        app = create_app(SegmentSettings(jwks_url="http://127.0.0.1:9/jwks.json", data_dir=tmp_path))
        async with app.router.lifespan_context(app):
            assert isinstance(app.state.token_verifier, TokenVerifier)
            transport = httpx.ASGITransport(app)
            async with httpx.AsyncClient(transport=transport, base_url="http://segment") as client:
                health = await client.get("/healthz")
                ready = await client.get("/readyz")
                metrics = await client.get("/metrics")  # 404: served on the metrics port
                missing = await client.get("/api/v1/segment/nothing-yet")
        assert (health.status_code, metrics.status_code) == (200, 404)
        # No users service here: without a revocation list, tokens cannot be checked yet.
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "ok"
        assert ready.json()["checks"]["token_revocations"].startswith("failed")
        assert "specimen_http_request_duration_seconds" in metrics_text()
        assert missing.status_code == 404
        assert missing.headers["content-type"] == PROBLEM_JSON

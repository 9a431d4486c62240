from __future__ import annotations

from pathlib import Path

import httpx

from specimen_classify.app import create_app
from specimen_classify.config import ClassifySettings
from specimen_kit.problems import PROBLEM_JSON
from specimen_kit.testing import metrics_text
from specimen_kit.tokens import TokenVerifier


class TestSkeleton:
    async def test_health_metrics_problem_404_and_not_ready_without_models(self, tmp_path: Path) -> None:
        app = create_app(ClassifySettings(data_dir=tmp_path, jwks_url="http://127.0.0.1:9/jwks.json"))
        async with app.router.lifespan_context(app):
            assert isinstance(app.state.token_verifier, TokenVerifier)
            transport = httpx.ASGITransport(app)
            async with httpx.AsyncClient(transport=transport, base_url="http://classify") as client:
                health = await client.get("/healthz")
                ready = await client.get("/readyz")
                metrics = await client.get("/metrics")  # 404: served on the metrics port
                missing = await client.get("/api/v1/classify/nothing")
        assert (health.status_code, metrics.status_code) == (200, 404)
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"] == "ok"
        assert "bootstrap-models" in ready.json()["checks"]["models"]
        assert "specimen_http_request_duration_seconds" in metrics_text()
        assert missing.status_code == 404
        assert missing.headers["content-type"] == PROBLEM_JSON

"""Large concurrent images wait or get 503 + Retry-After, never a 500 (issue 9, findings 6-7)."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image

from specimen_kit.jwk import generate_private_key_pem, public_jwk
from specimen_kit.problems import PROBLEM_JSON
from specimen_kit.testing import mint_token
from specimen_kit.tokens import StaticKeySource, TokenVerifier
from specimen_segment.api import algorithms
from specimen_segment.app import create_app
from specimen_segment.config import SegmentSettings

BASE = "/api/v1/segment"
SIDE = 1000
"""A one-megapixel frame; the budget below holds exactly one."""


def _frame() -> bytes:
    pixels = np.full((SIDE, SIDE), 20, np.uint8)
    pixels[100:300, 100:300] = 200
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def app_and_client(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    private_pem = generate_private_key_pem()
    settings = SegmentSettings(jwks_url="http://127.0.0.1:9/jwks.json", data_dir=tmp_path,
                               max_inflight_megapixels=SIDE * SIDE / 1e6, admission_wait_seconds=0)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        app.state.token_verifier = TokenVerifier(StaticKeySource({"keys": [public_jwk(private_pem)]}),
                                                 "specimen-users")
        token = mint_token(private_pem, role="technician")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://segment",
                                     headers={"Authorization": f"Bearer {token}"}) as http:
            yield app, http


def _assert_overloaded(response: httpx.Response, slug: str = "overloaded") -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert int(response.headers["Retry-After"]) >= 1
    body = response.json()
    assert body["type"].endswith(slug)
    assert body["request_id"]


class TestAdmissionByPixels:
    async def test_an_image_that_finds_no_room_is_a_503_with_retry_after_then_served(
        self, app_and_client: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        app, http = app_and_client
        budget = app.state.pixel_budget
        budget.acquire(1, held=0)  # another request holds pixels
        _assert_overloaded(await http.post(f"{BASE}/objects", content=_frame(),
                                           headers={"content-type": "image/png"}))
        budget.release(1)
        response = await http.post(f"{BASE}/objects", content=_frame(), headers={"content-type": "image/png"})
        assert response.status_code == 200, response.text
        assert budget.in_use == 0

    async def test_concurrent_large_requests_get_503_never_500_and_the_service_serves_on(
        self, app_and_client: tuple[FastAPI, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        app, http = app_and_client
        finish = threading.Event()
        real = algorithms.threshold_result

        def held_threshold(pixels: Any, opts: Any) -> Any:
            finish.wait(30)  # the admitted one works until every other answer is in
            return real(pixels, opts)

        monkeypatch.setattr(algorithms, "threshold_result", held_threshold)
        requests = [asyncio.create_task(http.post(f"{BASE}/threshold", content=_frame(),
                                                  headers={"content-type": "image/png"}))
                    for _ in range(6)]
        refused = []
        for done in asyncio.as_completed(requests):
            response = await done
            if len(refused) < 5:
                refused.append(response)
                if len(refused) == 5:
                    finish.set()
            else:
                admitted = response
        for response in refused:
            _assert_overloaded(response)
        assert admitted.status_code == 200
        assert app.state.pixel_budget.in_use == 0
        assert (await http.post(f"{BASE}/threshold", content=_frame(),
                                headers={"content-type": "image/png"})).status_code == 200


class TestWorkDeadline:
    async def test_a_deadline_passed_before_the_work_is_a_503_problem(
        self, app_and_client: tuple[FastAPI, httpx.AsyncClient]
    ) -> None:
        _, http = app_and_client
        response = await http.post(f"{BASE}/threshold", content=_frame(),
                                   headers={"content-type": "image/png", "X-Request-Deadline": "0.000001"})
        _assert_overloaded(response, "work-deadline-exceeded")

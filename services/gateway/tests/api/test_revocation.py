"""Revoked tokens at the gateway: refused on every request, remembered verification or not."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from gateway_fakes import FakeState, ThreadedServer

Gateway = Callable[..., httpx.Client]
IMAGES = "/api/v1/images"


@pytest.fixture
def users_revocations(upstreams: dict[str, tuple[FakeState, ThreadedServer]]
                      ) -> Iterator[list[dict[str, Any]]]:
    state = upstreams["users"][0]
    yield state.revocations
    state.revocations.clear()


def _eventually_status(client: httpx.Client, headers: dict[str, str], status: int) -> int:
    """Poll until the gateway answers ``status`` (bounded well above the poll interval)."""
    deadline = time.monotonic() + 10
    while True:
        answered = client.get(IMAGES, headers=headers).status_code
        if answered == status or time.monotonic() > deadline:
            return answered
        time.sleep(0.05)


class TestRevocation:
    def test_a_cached_token_is_refused_once_its_user_is_revoked(
            self, gateway: Gateway, token_for: Callable[..., str],
            users_revocations: list[dict[str, Any]]) -> None:
        client = gateway(revocation_poll_seconds=0.1)
        headers = {"Authorization": f"Bearer {token_for(sub='5', ver=1)}"}
        assert _eventually_status(client, headers, 200) == 200  # now in the token cache

        users_revocations.append({"user": 5, "version": 2, "until": int(time.time()) + 900})

        assert _eventually_status(client, headers, 401) == 401
        refused = client.get(IMAGES, headers=headers)
        assert refused.json()["type"].endswith("/token-revoked")
        renewed = {"Authorization": f"Bearer {token_for(sub='5', ver=2)}"}
        assert client.get(IMAGES, headers=renewed).status_code == 200

    def test_without_a_revocation_list_authenticated_routes_fail_closed(
            self, gateway: Gateway, token_for: Callable[..., str]) -> None:
        client = gateway(revocations_url="http://127.0.0.1:9/.well-known/revocations")
        response = client.get(IMAGES, headers={"Authorization": f"Bearer {token_for()}"})
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert response.json()["type"].endswith("/revocations-stale")
        # Public routes do not depend on it.
        assert client.get("/.well-known/jwks.json").status_code == 200

"""Fixtures every classify test directory shares."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from specimen_classify.adapters.model_store import ModelStore
from specimen_classify.app import create_app
from specimen_classify.config import ClassifySettings
from specimen_classify.domain.predictions import PLANKTON_MODEL
from specimen_kit.tokens import TokenVerifier

ServingClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@dataclass
class FakeUsers:
    """The users service's ``GET /api/v1/hospitals/{id}``, as the scans ask it: ``hospitals``
    are the ids it knows, ``status`` (when set) what it answers instead, ``down`` no answer."""

    hospitals: set[str] = field(default_factory=lambda: {"general", "headquarters", "st-mary"})
    # ``GET /api/v1/auth/me``: the token's user (its unverified ``sub``) by these names, else
    # "Person <id>".
    names: dict[int, str] = field(default_factory=dict)
    status: int | None = None
    down: bool = False
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.down:
            raise httpx.ConnectError("connection refused", request=request)
        if self.status is not None:
            return httpx.Response(self.status)
        if request.url.path == "/api/v1/auth/me":
            token = request.headers.get("authorization", "").removeprefix("Bearer ")
            payload = token.split(".")[1]
            sub = int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])
            return httpx.Response(200, json={"id": sub, "full_name": self.names.get(sub, f"Person {sub}")})
        hospital_id = request.url.path.rsplit("/", 1)[-1]
        if hospital_id in self.hospitals:
            return httpx.Response(200, json={"id": hospital_id, "name": hospital_id})
        return httpx.Response(404)


@pytest.fixture
def fake_users() -> FakeUsers:
    return FakeUsers()


@asynccontextmanager
async def _serving(settings: ClassifySettings, verifier: TokenVerifier,
                   raise_app_exceptions: bool,
                   users: FakeUsers) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        # The lifespan's verifier fetches the users service's JWKS; tests sign with their own key.
        app.state.token_verifier = verifier
        app.state.users_client = httpx.Client(transport=httpx.MockTransport(users.handle),
                                              base_url=settings.resolved_users_url)
        transport = httpx.ASGITransport(app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="http://classify") as client:
            yield client


@pytest.fixture
def serving_client(tmp_path: Path, token_verifier: TokenVerifier,
                   fake_users: FakeUsers) -> ServingClient:
    """``serving_client(model_dir=..., **settings)``: the app in-process behind a client.

    The scans' database is the data directory's SQLite file unless ``database_url`` is given
    (classification and the model routes need none; the scan tests use ``start_app``).
    """

    def start(raise_app_exceptions: bool = True,
              **overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        settings = ClassifySettings(**{"data_dir": tmp_path, "jwks_url": "http://127.0.0.1:9/jwks.json",
                                       "redis_url": None, "model_refresh_seconds": 0.0, **overrides})
        return _serving(settings, token_verifier, raise_app_exceptions, fake_users)

    return start


@pytest.fixture(scope="session")
def plankton_version(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small plankton forest trained in this test run on generated crops (a version directory)."""
    from specimen_classify.adapters.datasets import generate_plankton
    from specimen_classify.training.plankton import train_plankton

    root = tmp_path_factory.mktemp("plankton-training")
    generate_plankton(root / "data", frames=3, seed=11, per_category=6, height=384, width=384)
    train_plankton(root / "data" / "objects", root / "version", seed=0, n_estimators=20, progress=False)
    return root / "version"


@pytest.fixture
def install_plankton(plankton_version: Path) -> Callable[[Path], int]:
    """``install_plankton(model_dir)`` registers (and activates) a copy of the trained forest."""

    def install(model_dir: Path) -> int:
        store = ModelStore(model_dir)
        staged = store.staging_dir()
        shutil.copytree(plankton_version, staged, dirs_exist_ok=True)
        return store.register(PLANKTON_MODEL, staged, activate=True, by="test")

    return install

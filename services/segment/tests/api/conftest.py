"""The segment app in-process, with real token verification on a static key.

Library tests take ``database_url`` (directly or through ``start_app`` / ``api``) and so run
twice: on a temporary SQLite file and on a real PostgreSQL database. Algorithm tests can use
``start_app`` with ``database_url`` left out of their fixtures by calling
:func:`running_client` themselves.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from specimen_kit.jwk import generate_private_key_pem, public_jwk
from specimen_kit.testing import mint_token, temporary_postgres_database
from specimen_kit.tokens import StaticKeySource, TokenVerifier
from specimen_segment.adapters.migrations import upgrade_database
from specimen_segment.app import create_app
from specimen_segment.config import SegmentSettings

ISSUER = "specimen-users"


@pytest.fixture(scope="session")
def private_pem() -> str:
    return generate_private_key_pem()


@pytest.fixture(scope="session")
def token_verifier(private_pem: str) -> TokenVerifier:
    return TokenVerifier(StaticKeySource({"keys": [public_jwk(private_pem)]}), ISSUER)


AuthHeaders = Callable[..., dict[str, str]]


@pytest.fixture(scope="session")
def auth(private_pem: str) -> AuthHeaders:
    """``auth(sub="7", role="technician")`` → the Authorization header of a valid token."""

    def headers(sub: str = "7", role: str = "technician", **claims: Any) -> dict[str, str]:
        token = mint_token(private_pem, sub=sub, role=role, **claims)
        return {"Authorization": f"Bearer {token}"}

    return headers


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty library database."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db' / 'segment.sqlite3'}"
        upgrade_database(url)
        yield url
        return
    with temporary_postgres_database("specimen_segment_test") as url:
        upgrade_database(url)
        yield url


def make_settings(data_dir: Path, database_url: str = "", **overrides: Any) -> SegmentSettings:
    values: dict[str, Any] = dict(data_dir=data_dir, database_url=database_url,
                                  jwks_url="http://127.0.0.1:9/jwks.json", redis_url=None)
    values.update(overrides)
    return SegmentSettings(**values)


@asynccontextmanager
async def running_client(settings: SegmentSettings, verifier: TokenVerifier, *,
                         raise_app_exceptions: bool = True) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, verifying tokens with ``verifier``, behind a client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        # The lifespan's verifier fetches the users service's JWKS; tests sign with their own key.
        app.state.token_verifier = verifier
        transport = httpx.ASGITransport(app, raise_app_exceptions=raise_app_exceptions)
        async with httpx.AsyncClient(transport=transport, base_url="http://segment") as client:
            yield client


StartApp = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def start_app(database_url: str, tmp_path: Path, token_verifier: TokenVerifier) -> StartApp:
    """Start the app on the test database, with some settings overridden."""

    def start(raise_app_exceptions: bool = True,
              **overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        settings = make_settings(tmp_path, **{"database_url": database_url, **overrides})
        return running_client(settings, token_verifier,
                              raise_app_exceptions=raise_app_exceptions)

    return start


def image_file(format: str = "png", size: tuple[int, int] = (6, 4), mode: str = "RGB",
               seed: int = 0) -> bytes:
    """A small random image in ``format`` (Pillow's name in lower case) of ``size`` (w, h)."""
    rng = np.random.default_rng(seed)
    width, height = size
    channels = {"L": 1, "RGB": 3, "RGBA": 4}[mode]
    shape = (height, width) if channels == 1 else (height, width, channels)
    image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
    out = io.BytesIO()
    image.save(out, format=format.upper())
    return out.getvalue()


@dataclass
class Api:
    """A client with shortcuts for the library routes, on behalf of one user by default."""

    http: httpx.AsyncClient
    headers: dict[str, str]

    async def upload(self, data: bytes | None = None, name: str | None = "frame.png",
                     headers: dict[str, str] | None = None, expect: int = 201) -> dict[str, Any]:
        form = {"name": name} if name is not None else {}
        response = await self.http.post(
            "/api/v1/images", files={"image": ("upload.png", data or image_file())}, data=form,
            headers=headers or self.headers)
        assert response.status_code == expect, response.text
        body: dict[str, Any] = response.json()
        return body


@pytest.fixture
async def api(start_app: StartApp, auth: AuthHeaders) -> AsyncIterator[Api]:
    async with start_app() as client:
        yield Api(client, auth())


@pytest.fixture(scope="session")
def make_image() -> Callable[..., bytes]:
    """:func:`image_file`: ``make_image("jpeg", (8, 8), "L")`` → encoded bytes."""
    return image_file

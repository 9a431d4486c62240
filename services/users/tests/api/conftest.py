"""The users app in-process, against a temporary SQLite file and a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from specimen_kit.jwk import generate_private_key_pem
from specimen_kit.testing import temporary_postgres_database
from specimen_users.adapters.migrations import upgrade_database
from specimen_users.app import create_app
from specimen_users.config import UsersSettings

ADMIN_EMAIL = "admin@specimen.local"
ADMIN_PASSWORD = "admin-password-for-tests"
PASSWORD = "password-1234"


@pytest.fixture(scope="session")
def private_pem() -> str:
    return generate_private_key_pem()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'db' / 'users.sqlite3'}"
        upgrade_database(url)
        yield url
        return
    with temporary_postgres_database("specimen_users_test") as url:
        upgrade_database(url)
        yield url


def make_settings(database_url: str, data_dir: Path, private_pem: str,
                  **overrides: Any) -> UsersSettings:
    values: dict[str, Any] = dict(
        database_url=database_url, data_dir=data_dir, jwt_private_key=SecretStr(private_pem),
        admin_email=ADMIN_EMAIL, admin_password=SecretStr(ADMIN_PASSWORD),
        admin_hospital="General", bcrypt_rounds=4, redis_url=None,
        login_failure_limit_per_account="100/minute", login_rate_limit_per_address="1000/minute")
    values.update(overrides)
    return UsersSettings(**values)


@pytest.fixture
def settings(database_url: str, tmp_path: Path, private_pem: str) -> UsersSettings:
    return make_settings(database_url, tmp_path, private_pem)


@dataclass
class Api:
    """A client with shortcuts for logging in and creating users."""

    http: httpx.AsyncClient

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.http.post("/api/v1/auth/login",
                                        json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    async def headers(self, email: str, password: str = PASSWORD) -> dict[str, str]:
        tokens = await self.login(email, password)
        return {"Authorization": f"Bearer {tokens['access_token']}"}

    async def create_hospital(self, headers: dict[str, str], name: str) -> dict[str, Any]:
        response = await self.http.post("/api/v1/hospitals", json={"name": name},
                                        headers=headers)
        assert response.status_code == 201, response.text
        hospital: dict[str, Any] = response.json()
        return hospital

    async def create(self, headers: dict[str, str], email: str, role: str = "technician",
                     hospital: str | None = None, **fields: Any) -> dict[str, Any]:
        body = {"email": email, "password": PASSWORD, "full_name": email.split("@")[0],
                "role": role, **fields}
        if hospital is not None:
            body["hospital"] = hospital
        response = await self.http.post("/api/v1/users", json=body, headers=headers)
        assert response.status_code == 201, response.text
        user: dict[str, Any] = response.json()
        return user


@asynccontextmanager
async def running_client(settings: UsersSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan run, behind an in-process HTTP client."""
    app = create_app(settings)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app), base_url="http://users") as client:
        yield client


ClientAt = Callable[[str], httpx.AsyncClient]


@asynccontextmanager
async def running_clients(settings: UsersSettings) -> AsyncIterator[ClientAt]:
    """The app with its lifespan run; ``at(address)`` is a client calling from that address."""
    app = create_app(settings)
    clients: list[httpx.AsyncClient] = []

    def at(address: str) -> httpx.AsyncClient:
        clients.append(httpx.AsyncClient(
            transport=httpx.ASGITransport(app, client=(address, 40000)), base_url="http://users"))
        return clients[-1]

    async with app.router.lifespan_context(app):
        try:
            yield at
        finally:
            for client in clients:
                await client.aclose()


StartApp = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
StartClients = Callable[..., AbstractAsyncContextManager[ClientAt]]


@pytest.fixture
def start_app(database_url: str, tmp_path: Path, private_pem: str) -> StartApp:
    """Start the app on the test database with some settings overridden."""

    def start(**overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return running_client(make_settings(database_url, tmp_path, private_pem, **overrides))

    return start


@pytest.fixture
def start_clients(database_url: str, tmp_path: Path, private_pem: str) -> StartClients:
    """Like ``start_app``, with a client per calling address."""

    def start(**overrides: Any) -> AbstractAsyncContextManager[ClientAt]:
        return running_clients(make_settings(database_url, tmp_path, private_pem, **overrides))

    return start


@pytest.fixture
async def api(settings: UsersSettings) -> AsyncIterator[Api]:
    async with running_client(settings) as client:
        yield Api(client)


@dataclass
class World:
    """Two hospitals: General (admin, two moderators, two technicians), Saint-Luc (one each);
    their ids are ``general`` and ``saint-luc``."""

    api: Api
    ids: dict[str, int]
    headers: dict[str, dict[str, str]]


@pytest.fixture
async def world(api: Api) -> World:
    admin = await api.headers(ADMIN_EMAIL, ADMIN_PASSWORD)
    people = {
        "mod_a": ("mod.a@general.org", "moderator", "General"),
        "mod_a2": ("mod.a2@general.org", "moderator", "General"),
        "tech_a": ("tech.a@general.org", "technician", "General"),
        "tech_a2": ("tech.a2@general.org", "technician", "General"),
        "mod_b": ("mod.b@saint-luc.org", "moderator", "Saint-Luc"),
        "tech_b": ("tech.b@saint-luc.org", "technician", "Saint-Luc"),
    }
    await api.create_hospital(admin, "Saint-Luc")
    me = (await api.http.get("/api/v1/auth/me", headers=admin)).json()
    ids = {"admin": me["id"]}
    headers = {"admin": admin}
    for name, (email, role, hospital) in people.items():
        ids[name] = (await api.create(admin, email, role, hospital))["id"]
        headers[name] = await api.headers(email)
    return World(api, ids, headers)

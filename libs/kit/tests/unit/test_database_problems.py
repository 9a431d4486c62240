"""A write naming a row a concurrent request deleted is a 404, on SQLite and PostgreSQL.

Regression (found racing writes against deletes through the gateway): a run posted to a project,
or a result kept for an image, while the project or image was being deleted met the foreign key
at flush, and the IntegrityError was answered 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from psycopg.errors import DeadlockDetected
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from specimen_kit.database import build_engine
from specimen_kit.database_problems import install_database_problems
from specimen_kit.problems import PROBLEM_JSON
from specimen_kit.service import build_service_app
from specimen_kit.settings import ServiceSettings
from specimen_kit.testing import temporary_postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        made = build_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}")
        yield made
        made.dispose()
        return
    with temporary_postgres_database("specimen_kit_test") as url:
        made = build_engine(url)
        yield made
        made.dispose()


def _app(engine: Engine) -> FastAPI:
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE parents (id INTEGER PRIMARY KEY)"))
        connection.execute(text("CREATE TABLE children (name TEXT PRIMARY KEY, "
                                "parent_id INTEGER NOT NULL REFERENCES parents (id))"))
        connection.execute(text("INSERT INTO parents (id) VALUES (1)"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = build_service_app("test", ServiceSettings(), lifespan, title="t")
    install_database_problems(app)

    @app.post("/parents/{parent_id}/children/{name}", status_code=201)
    def add_child(parent_id: int, name: str) -> dict[str, str]:
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO children (parent_id, name) VALUES (:p, :n)"),
                               {"p": parent_id, "n": name})
        return {"name": name}

    return app


async def test_a_child_of_a_deleted_parent_is_a_404_and_other_integrity_errors_stay_500(
        engine: Engine) -> None:
    app = _app(engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app, raise_app_exceptions=False),
                                 base_url="http://t") as client:
        made = await client.post("/parents/1/children/a")
        orphan = await client.post("/parents/2/children/b")
        duplicate = await client.post("/parents/1/children/a")

    assert made.status_code == 201
    assert orphan.status_code == 404, orphan.text
    assert orphan.headers["content-type"] == PROBLEM_JSON
    assert "deleted by another request meanwhile" in orphan.json()["detail"]
    # A unique violation is not a vanished row: it stays the bug it is, until its route says more.
    assert duplicate.status_code == 500


async def test_a_deadlock_is_a_503_conflict_to_retry_not_an_unavailable_database() -> None:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = build_service_app("test", ServiceSettings(), lifespan, title="t")
    install_database_problems(app)

    @app.post("/deadlock")
    def deadlock() -> None:
        raise OperationalError("DELETE FROM projects", {}, DeadlockDetected("deadlock detected"))

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as client:
        answer = await client.post("/deadlock")
    assert answer.status_code == 503
    assert answer.json()["type"].endswith("/database-conflict")
    assert answer.headers["retry-after"] == "1"

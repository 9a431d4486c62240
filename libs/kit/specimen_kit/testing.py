"""Helpers for the services' tests: tokens, and the real PostgreSQL and Redis they run against.

PostgreSQL and Redis tests skip when the server is absent on a developer's machine, and fail
instead when ``SPECIMEN_TEST_REQUIRE_SERVICES=1`` (CI), so CI can never pass without them.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from jose import jwt
from prometheus_client import generate_latest

from specimen_kit.jwk import SIGNING_ALGORITHM, public_jwk

POSTGRES_ADMIN_URL = os.environ.get(
    "SPECIMEN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("SPECIMEN_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
SERVICES_REQUIRED = os.environ.get("SPECIMEN_TEST_REQUIRE_SERVICES") == "1"


def metrics_text() -> str:
    """This process's metrics as a scrape would read them (the apps serve them on a port of
    their own, which in-process tests do not open)."""
    return generate_latest().decode()


def wait_until(condition: Callable[[], object], seconds: float = 60.0) -> None:
    """Poll ``condition`` until it holds; fail after ``seconds`` (a bound on waiting, never on speed)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            raise AssertionError(f"the condition did not hold within {seconds} s")
        time.sleep(0.01)


def service_unavailable(what: str, error: Exception) -> None:
    """Skip the test, or fail it where the services are required."""
    import pytest

    message = f"{what} is not reachable ({error}); start it or see README 'Tests'"
    if SERVICES_REQUIRED:
        pytest.fail(message + " — SPECIMEN_TEST_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(message)


@contextmanager
def temporary_postgres_database(prefix: str) -> Iterator[str]:
    """Create an empty database on the test server, yield its URL, drop it afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as error:  # any connection failure means "no PostgreSQL here"
        admin.dispose()
        service_unavailable("PostgreSQL", error)
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def mint_token(private_pem: str, *, headers: dict[str, Any] | None = None,
               drop: tuple[str, ...] = (), **claims: Any) -> str:
    """An RS256 access token as the users service would sign it, with claims overridable.

    Tests use it to forge the attacks a verifier must refuse (expired, wrong issuer, missing
    claims); ``drop`` removes claims.
    """
    now = int(time.time())
    body: dict[str, Any] = {
        "sub": "1", "role": "admin", "hospital": "General", "iss": "specimen-users",
        "iat": now, "exp": now + 900, "jti": uuid.uuid4().hex,
    }
    body.update(claims)
    for claim in drop:
        body.pop(claim, None)
    return str(jwt.encode(body, private_pem, algorithm=SIGNING_ALGORITHM,
                          headers={"kid": public_jwk(private_pem)["kid"], **(headers or {})}))

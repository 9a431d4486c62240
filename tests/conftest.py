"""The suite tests start every service as a real uvicorn process on loopback, users and segment
on real PostgreSQL databases and login rate limits in the real Redis, and talk to them through
the gateway."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from specimen_kit.jwk import generate_private_key_pem
from specimen_kit.launch import free_port
from specimen_kit.testing import REDIS_URL, temporary_postgres_database

# The suite's launcher (scripts/) and the tests' shared module sit outside any package.
sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "scripts"), str(Path(__file__).parent)]

from local_suite import DEFAULT_PORTS, SMALL_MODELS, LocalSuite  # noqa: E402
from suite_support import ADMIN_EMAIL, ADMIN_PASSWORD, RunningSuite  # noqa: E402


@pytest.fixture(scope="session")
def running_suite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSuite]:
    private_pem = generate_private_key_pem()
    with (temporary_postgres_database("specimen_suite_users") as users_database,
          temporary_postgres_database("specimen_suite_segment") as segment_database,
          temporary_postgres_database("specimen_suite_classify") as classify_database):
        suite = LocalSuite(
            tmp_path_factory.mktemp("suite-data"),
            ports={name: free_port() for name in DEFAULT_PORTS},
            env={
                "SPECIMEN_USERS_DATABASE_URL": users_database,
                "SPECIMEN_SEGMENT_DATABASE_URL": segment_database,
                "SPECIMEN_CLASSIFY_DATABASE_URL": classify_database,
                "SPECIMEN_REDIS_URL": REDIS_URL,
                "SPECIMEN_JWT_PRIVATE_KEY": private_pem,
                "SPECIMEN_ADMIN_EMAIL": ADMIN_EMAIL,
                "SPECIMEN_ADMIN_PASSWORD": ADMIN_PASSWORD,
                "SPECIMEN_BCRYPT_ROUNDS": "4",
                "SPECIMEN_LOGIN_FAILURE_LIMIT_PER_ACCOUNT": "20/hour",
                "SPECIMEN_LOGIN_FREE_FAILURES": "3",
                # Long enough that a test's next request always lands inside the wait.
                "SPECIMEN_LOGIN_FIRST_DELAY_SECONDS": "30",
                "SPECIMEN_LOGIN_RATE_LIMIT_PER_ADDRESS": "10000/minute",
                "SPECIMEN_GATEWAY_RATE_LIMIT": "100000/minute",
                "SPECIMEN_MAX_BODY_BYTES": str(64 * 1024),
            },
            bootstrap_args=SMALL_MODELS,
        )
        suite.start()
        try:
            yield RunningSuite(suite, private_pem)
        finally:
            suite.stop()


@pytest.fixture(scope="session")
def gateway(running_suite: RunningSuite) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=running_suite.gateway, timeout=30.0) as client:
        yield client

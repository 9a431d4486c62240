"""What the suite tests share: the first admin's credentials and the running suite."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from local_suite import LocalSuite

ADMIN_EMAIL = "root@suite.test"
ADMIN_PASSWORD = "suite-admin-" + uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class RunningSuite:
    suite: LocalSuite
    private_pem: str

    @property
    def gateway(self) -> str:
        return self.suite.url("gateway")

    def log(self, service: str) -> str:
        return (self.suite.log_dir / f"{service}.log").read_text()

PROBLEM_JSON = "application/problem+json"
PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Actor:
    """A user of the running suite with a valid access token."""

    id: int
    email: str
    hospital: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def login(gateway: httpx.Client, email: str, password: str) -> dict[str, Any]:
    response = gateway.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return dict(response.json())


def unique_email(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}@suite.test"

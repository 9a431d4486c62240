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


def ensure_hospital(gateway: httpx.Client, admin: Actor, name: str) -> str:
    """The id of the hospital ``name``, created as ``admin`` when the list lacks it."""
    response = gateway.post("/api/v1/hospitals", json={"name": name}, headers=admin.headers)
    if response.status_code == 409:  # created by an earlier test: the answer names it
        return str(response.json()["existing_id"])
    assert response.status_code == 201, response.text
    return str(response.json()["id"])

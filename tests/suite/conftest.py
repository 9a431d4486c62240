"""Accounts shared by the suite tests: the first admin and users made through the gateway."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from suite_support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PASSWORD,
    Actor,
    ensure_hospital,
    login,
    unique_email,
)


@pytest.fixture(scope="session")
def admin(gateway: httpx.Client) -> Actor:
    token = login(gateway, ADMIN_EMAIL, ADMIN_PASSWORD)["access_token"]
    response = gateway.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    me = response.json()
    return Actor(me["id"], ADMIN_EMAIL, me["hospital"], token)


@pytest.fixture(scope="session")
def create_actor(gateway: httpx.Client, admin: Actor) -> Callable[..., Actor]:
    """Make a user through the gateway as the admin; log them in unless told not to.

    ``hospital`` is a name: the hospital is created first when the list lacks it, and the
    actor's ``hospital`` is its id (what tokens, users and scans hold).
    """

    def create(role: str, hospital: str, log_in: bool = True) -> Actor:
        ensure_hospital(gateway, admin, hospital)
        email = unique_email(role)
        response = gateway.post("/api/v1/users", headers=admin.headers, json={
            "email": email, "full_name": f"{role.title()} of {hospital}", "hospital": hospital,
            "role": role, "password": PASSWORD,
        })
        assert response.status_code == 201, response.text
        token = login(gateway, email, PASSWORD)["access_token"] if log_in else ""
        return Actor(response.json()["id"], email, response.json()["hospital"], token)

    return create

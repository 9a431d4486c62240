"""Two requests changing one account at once: the later write never undoes the earlier one.

Regression (found probing concurrency on the same object): a password change read its caller
when the request began, spent bcrypt's time checking the current password, then wrote every
field of that read back. An admin's demotion committed in between was undone: the user was an
admin again, and could sign in as one with the new password. Here the other request's write is
committed from another connection exactly inside that window (in the password check, or in the
hashing of a new password), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from specimen_kit.database import build_engine
from specimen_users.adapters.hashing import BcryptPasswordHasher

USERS = "/api/v1/users"
PASSWORD = "password-1234"


def _commit_meanwhile(database_url: str, user_id: int, *, new_tokens: bool = True,
                      **columns: Any) -> Callable[[], None]:
    """A write of another request: ``columns`` of the user, its token version raised unless
    ``new_tokens`` is False."""

    def commit() -> None:
        engine = build_engine(database_url)
        assignments = "".join(f"{name} = :{name}, " for name in columns)
        if new_tokens:
            assignments += "token_version = token_version + 1, "
        try:
            with engine.begin() as connection:
                connection.execute(text(
                    f"UPDATE users SET {assignments}updated_at = :now WHERE id = :id"),  # noqa: S608
                    {**columns, "now": datetime.now(UTC), "id": user_id})
        finally:
            engine.dispose()

    return commit


def _once_inside(monkeypatch: pytest.MonkeyPatch, method: str, commit: Callable[[], None]) -> None:
    """Run ``commit`` the first time the hasher's ``method`` is called, before it answers."""
    original = getattr(BcryptPasswordHasher, method)
    pending = [commit]

    def inside(self: BcryptPasswordHasher, *args: Any) -> Any:
        if pending:
            pending.pop()()
        return original(self, *args)

    monkeypatch.setattr(BcryptPasswordHasher, method, inside)


async def _user(world: Any, name: str) -> dict[str, Any]:
    response = await world.api.http.get(f"{USERS}/{world.ids[name]}", headers=world.headers["admin"])
    assert response.status_code == 200, response.text
    user: dict[str, Any] = response.json()
    return user


async def test_a_demotion_during_a_password_change_is_not_undone(
        world: Any, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _once_inside(monkeypatch, "verify", _commit_meanwhile(database_url, world.ids["mod_a"],
                                                          role="technician"))
    response = await world.api.http.put(f"{USERS}/me/password", headers=world.headers["mod_a"], json={
        "current_password": PASSWORD, "new_password": "brand-new-secret"})
    monkeypatch.undo()

    assert response.status_code == 409, response.text
    assert response.json()["type"].endswith("/user-changed-meanwhile")
    assert (await _user(world, "mod_a"))["role"] == "technician"
    await world.api.login("mod.a@general.org", PASSWORD)  # the password did not change either


async def test_a_deactivation_during_a_password_reset_is_not_undone(
        world: Any, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _once_inside(monkeypatch, "hash", _commit_meanwhile(database_url, world.ids["tech_a"],
                                                        is_active=False))
    response = await world.api.http.patch(f"{USERS}/{world.ids['tech_a']}", headers=world.headers["mod_a"],
                                          json={"password": "brand-new-secret"})
    monkeypatch.undo()

    assert response.status_code == 409, response.text
    assert response.json()["type"].endswith("/user-changed-meanwhile")
    assert (await _user(world, "tech_a"))["is_active"] is False


async def test_a_change_after_the_other_one_is_saved(world: Any, database_url: str) -> None:
    _commit_meanwhile(database_url, world.ids["tech_a"], full_name="Renamed")()
    response = await world.api.http.patch(f"{USERS}/{world.ids['tech_a']}", headers=world.headers["admin"],
                                          json={"role": "moderator"})
    assert response.status_code == 200, response.text
    assert (response.json()["full_name"], response.json()["role"]) == ("Renamed", "moderator")


async def test_a_login_that_would_rehash_a_changed_account_still_signs_in(
        world: Any, database_url: str, start_app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With more bcrypt rounds, a login rewrites the stored hash; racing a change of the account
    it skips that (the next login does it) rather than refusing the sign-in."""
    _once_inside(monkeypatch, "hash", _commit_meanwhile(database_url, world.ids["tech_a"],
                                                        full_name="Renamed"))
    async with start_app(bcrypt_rounds=5) as http:
        response = await http.post("/api/v1/auth/login",
                                    json={"email": "tech.a@general.org", "password": PASSWORD})
    monkeypatch.undo()

    assert response.status_code == 200, response.text
    assert (await _user(world, "tech_a"))["full_name"] == "Renamed"


async def test_concurrent_deletes_of_one_account_delete_it_once(world: Any) -> None:
    url = f"{USERS}/{world.ids['tech_a']}"
    answers = await asyncio.gather(*[world.api.http.delete(url, headers=world.headers["admin"])
                                     for _ in range(8)])
    assert sorted(answer.status_code for answer in answers) == [204] + [404] * 7


# The caller's own account changing meanwhile ----------------------------------------------------
# Regression (write skew): two admins demoting each other at the same moment each checked their
# own role when their request began, and both writes committed: the suite was left without an
# admin. The same held for any change made on an authority that was withdrawn meanwhile (a
# moderator demoted while resetting a technician's password, or creating one). Here the other
# request's change of the *caller* commits inside the caller's request, after its checks.


def _policy_step_commits(monkeypatch: pytest.MonkeyPatch, step: str, commit: Callable[[], None]) -> None:
    """Run ``commit`` once, after the policy's ``step`` has approved the caller's request."""
    from specimen_users.domain import policy

    original = getattr(policy, step)
    pending = [commit]

    def approved_then_changed(*args: Any) -> Any:
        answer = original(*args)
        if pending:
            pending.pop()()
        return answer

    monkeypatch.setattr(policy, step, approved_then_changed)


async def _second_admin(world: Any) -> tuple[int, dict[str, str]]:
    created = await world.api.create(world.headers["admin"], "second.admin@general.org", "admin", "General")
    return created["id"], await world.api.headers("second.admin@general.org")


async def test_two_admins_demoting_each_other_leave_one_admin(
        world: Any, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    second_id, second = await _second_admin(world)
    _policy_step_commits(monkeypatch, "authorize_update",
                         _commit_meanwhile(database_url, world.ids["admin"], role="technician"))
    response = await world.api.http.patch(f"{USERS}/{second_id}", headers=world.headers["admin"],
                                          json={"role": "technician"})
    monkeypatch.undo()

    assert response.status_code == 409, response.text
    assert response.json()["type"].endswith("/user-changed-meanwhile")
    assert str(world.ids["admin"]) in response.json()["detail"]
    me = await world.api.http.get("/api/v1/auth/me", headers=second)
    assert (me.status_code, me.json()["role"]) == (200, "admin")


async def test_an_admin_deactivated_meanwhile_deletes_nobody(
        world: Any, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    second_id, second = await _second_admin(world)
    _policy_step_commits(monkeypatch, "authorize_delete",
                         _commit_meanwhile(database_url, world.ids["admin"], is_active=False))
    response = await world.api.http.delete(f"{USERS}/{second_id}", headers=world.headers["admin"])
    monkeypatch.undo()

    assert response.status_code == 409, response.text
    assert response.json()["type"].endswith("/user-changed-meanwhile")
    assert (await world.api.http.get("/api/v1/auth/me", headers=second)).status_code == 200


async def test_a_moderator_demoted_meanwhile_resets_no_password(
        world: Any, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _once_inside(monkeypatch, "hash", _commit_meanwhile(database_url, world.ids["mod_a"], role="technician"))
    response = await world.api.http.patch(f"{USERS}/{world.ids['tech_a']}", headers=world.headers["mod_a"],
                                          json={"password": "brand-new-secret"})
    monkeypatch.undo()

    assert response.status_code == 409, response.text
    await world.api.login("tech.a@general.org", PASSWORD)  # the password did not change


async def test_a_moderator_demoted_meanwhile_creates_nobody(
        world: Any, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _policy_step_commits(monkeypatch, "authorize_create",
                         _commit_meanwhile(database_url, world.ids["mod_a"], role="technician"))
    response = await world.api.http.post(USERS, headers=world.headers["mod_a"], json={
        "email": "new.tech@general.org", "full_name": "New Tech", "password": PASSWORD,
        "role": "technician"})
    monkeypatch.undo()

    assert response.status_code == 409, response.text
    listed = await world.api.http.get(f"{USERS}?limit=100", headers=world.headers["admin"])
    assert "new.tech@general.org" not in {user["email"] for user in listed.json()["items"]}


async def test_a_change_of_the_callers_own_name_meanwhile_does_not_block(
        world: Any, database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the caller's authority matters (role, hospital, activation, sessions)."""
    _policy_step_commits(monkeypatch, "authorize_update", _commit_meanwhile(
        database_url, world.ids["mod_a"], new_tokens=False, full_name="Mod Renamed"))
    response = await world.api.http.patch(f"{USERS}/{world.ids['tech_a']}", headers=world.headers["mod_a"],
                                          json={"full_name": "Renamed Tech"})
    monkeypatch.undo()
    assert response.status_code == 200, response.text


def _admin_check_commits(monkeypatch: pytest.MonkeyPatch, commit: Callable[[], None]) -> None:
    """Run ``commit`` once, after the hospital list's admin check has approved the request."""
    from specimen_users.domain import hospitals

    original = hospitals._require_admin
    pending = [commit]

    def approved_then_changed(*args: Any) -> None:
        original(*args)
        if pending:
            pending.pop()()

    monkeypatch.setattr(hospitals, "_require_admin", approved_then_changed)


@pytest.mark.parametrize("request_of", [
    lambda http, headers: http.post("/api/v1/hospitals", headers=headers, json={"name": "Second Clinic"}),
    lambda http, headers: http.patch("/api/v1/hospitals/general", headers=headers,
                                     json={"name": "Second Clinic"}),
], ids=["create", "rename"])
async def test_an_admin_demoted_meanwhile_changes_no_hospital(
        world: Any, database_url: str, monkeypatch: pytest.MonkeyPatch, request_of: Any) -> None:
    _admin_check_commits(monkeypatch, _commit_meanwhile(database_url, world.ids["admin"], role="moderator"))
    response = await request_of(world.api.http, world.headers["admin"])
    monkeypatch.undo()

    assert response.status_code == 409, response.text
    assert response.json()["type"].endswith("/user-changed-meanwhile")
    listed = await world.api.http.get("/api/v1/hospitals?limit=100", headers=world.headers["mod_a"])
    assert "Second Clinic" not in {hospital["name"] for hospital in listed.json()["items"]}

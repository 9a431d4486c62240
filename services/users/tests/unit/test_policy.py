from __future__ import annotations

from datetime import UTC, datetime

import pytest

from specimen_kit.roles import Role
from specimen_users.domain import policy
from specimen_users.domain.entities import User, UserChanges, UserDraft, UserFilter
from specimen_users.domain.errors import (
    ActionForbidden,
    CurrentPasswordRequired,
    RoleChangeForbidden,
    SelfLockout,
    UserNotFound,
)


def make_user(user_id: int, role: Role, hospital: str) -> User:
    return User(id=user_id, email=f"user{user_id}@example.org", full_name=f"User {user_id}",
                hospital=hospital, role=role, is_active=True, password_hash="x",
                created_at=T0, updated_at=T0)


T0 = datetime(2025, 1, 1, tzinfo=UTC)

PEOPLE: dict[str, User] = {
    "admin": make_user(1, Role.ADMIN, "General"),
    "admin2": make_user(2, Role.ADMIN, "Saint-Luc"),
    "mod_a": make_user(3, Role.MODERATOR, "General"),
    "mod_a2": make_user(4, Role.MODERATOR, "General"),
    "tech_a": make_user(5, Role.TECHNICIAN, "General"),
    "tech_a2": make_user(6, Role.TECHNICIAN, "General"),
    "mod_b": make_user(7, Role.MODERATOR, "Saint-Luc"),
    "tech_b": make_user(8, Role.TECHNICIAN, "Saint-Luc"),
}

ACTIONS = {
    "see": None,
    "rename": UserChanges(full_name="New Name"),
    "new_password": UserChanges(password="new-password-1"),
    "change_email": UserChanges(email="new@example.org"),
    "deactivate": UserChanges(is_active=False),
    "make_moderator": UserChanges(role=Role.MODERATOR),
    "make_admin": UserChanges(role=Role.ADMIN),
    "move_hospital": UserChanges(hospital="Elsewhere"),
    "delete": None,
}

OUTCOMES: dict[str, type[Exception] | None] = {
    "ok": None, "404": UserNotFound, "403": ActionForbidden, "role": RoleChangeForbidden,
    "409": SelfLockout, "current": CurrentPasswordRequired,
}

# actor, target, action, expected outcome
TABLE = [
    # admin: everything on others, except on themself
    ("admin", "tech_b", "see", "ok"),
    ("admin", "mod_b", "make_admin", "ok"),
    ("admin", "admin2", "deactivate", "ok"),
    ("admin", "admin2", "delete", "ok"),
    ("admin", "tech_a", "move_hospital", "ok"),
    ("admin", "admin", "rename", "ok"),
    ("admin", "admin", "change_email", "ok"),
    ("admin", "admin", "new_password", "current"),
    ("admin", "tech_b", "new_password", "ok"),
    ("admin", "admin", "make_moderator", "role"),
    ("admin", "admin", "deactivate", "403"),
    ("admin", "admin", "delete", "409"),
    # moderator: sees their hospital, manages its technicians only
    ("mod_a", "tech_a", "see", "ok"),
    ("mod_a", "tech_a", "rename", "ok"),
    ("mod_a", "tech_a", "new_password", "ok"),
    ("mod_a", "tech_a", "deactivate", "ok"),
    ("mod_a", "tech_a", "change_email", "ok"),
    ("mod_a", "tech_a", "delete", "ok"),
    ("mod_a", "tech_a", "make_moderator", "role"),
    ("mod_a", "tech_a", "move_hospital", "403"),
    ("mod_a", "mod_a2", "see", "ok"),
    ("mod_a", "mod_a2", "rename", "403"),
    ("mod_a", "mod_a2", "delete", "403"),
    ("mod_a", "admin", "see", "ok"),
    ("mod_a", "admin", "deactivate", "403"),
    ("mod_a", "tech_b", "see", "404"),
    ("mod_a", "tech_b", "rename", "404"),
    ("mod_a", "tech_b", "delete", "404"),
    ("mod_a", "mod_b", "see", "404"),
    ("mod_a", "mod_a", "rename", "ok"),
    ("mod_a", "mod_a", "new_password", "current"),
    ("mod_a", "mod_a", "make_admin", "role"),
    ("mod_a", "mod_a", "move_hospital", "403"),
    ("mod_a", "mod_a", "delete", "403"),
    # technician: themself only, name only (own password: PUT /users/me/password, issue 9)
    ("tech_a", "tech_a", "see", "ok"),
    ("tech_a", "tech_a", "rename", "ok"),
    ("tech_a", "tech_a", "new_password", "current"),
    ("tech_a", "tech_a", "change_email", "403"),
    ("tech_a", "tech_a", "deactivate", "403"),
    ("tech_a", "tech_a", "move_hospital", "403"),
    ("tech_a", "tech_a", "make_moderator", "role"),
    ("tech_a", "tech_a", "delete", "403"),
    ("tech_a", "tech_a2", "see", "404"),
    ("tech_a", "tech_a2", "rename", "404"),
    ("tech_a", "mod_a", "see", "404"),
    ("tech_a", "admin", "delete", "404"),
    ("tech_a", "tech_b", "see", "404"),
]


def _act(actor: User, target: User, action: str) -> None:
    if action == "see":
        policy.ensure_visible(actor, target)
    elif action == "delete":
        policy.authorize_delete(actor, target)
    else:
        changes = ACTIONS[action]
        assert changes is not None
        policy.authorize_update(actor, target, changes)


class TestAccessTable:
    @pytest.mark.parametrize(("actor", "target", "action", "expected"), TABLE,
                             ids=[f"{a}-{act}-{t}-{e}" for a, t, act, e in TABLE])
    def test_actor_target_action(self, actor: str, target: str, action: str,
                                 expected: str) -> None:
        error = OUTCOMES[expected]
        if error is None:
            _act(PEOPLE[actor], PEOPLE[target], action)
        else:
            with pytest.raises(error) as caught:
                _act(PEOPLE[actor], PEOPLE[target], action)
            assert type(caught.value) is error  # exact: RoleChangeForbidden is not ActionForbidden

    def test_setting_own_role_to_its_current_value_is_no_change(self) -> None:
        policy.authorize_update(PEOPLE["tech_a"], PEOPLE["tech_a"],
                                UserChanges(role=Role.TECHNICIAN, full_name="Same Role"))


class TestAuthorizeCreate:
    def test_admin_creates_any_role_in_any_hospital(self) -> None:
        draft = UserDraft(email="x@example.org", password="p" * 8, full_name="X",
                          role=Role.ADMIN, hospital="Elsewhere")
        assert policy.authorize_create(PEOPLE["admin"], draft) == "Elsewhere"

    def test_moderator_technician_defaults_to_their_hospital(self) -> None:
        draft = UserDraft(email="x@example.org", password="p" * 8, full_name="X")
        assert policy.authorize_create(PEOPLE["mod_a"], draft) == "General"

    def test_moderator_naming_their_own_hospital_is_allowed(self) -> None:
        draft = UserDraft(email="x@example.org", password="p" * 8, full_name="X",
                          hospital="General")
        assert policy.authorize_create(PEOPLE["mod_a"], draft) == "General"

    @pytest.mark.parametrize(("role", "hospital"), [
        (Role.MODERATOR, None), (Role.ADMIN, None), (Role.TECHNICIAN, "Saint-Luc")])
    def test_moderator_other_role_or_hospital_is_forbidden(self, role: Role,
                                                           hospital: str | None) -> None:
        draft = UserDraft(email="x@example.org", password="p" * 8, full_name="X", role=role,
                          hospital=hospital)
        with pytest.raises(ActionForbidden):
            policy.authorize_create(PEOPLE["mod_a"], draft)

    def test_technician_creates_nobody(self) -> None:
        draft = UserDraft(email="x@example.org", password="p" * 8, full_name="X")
        with pytest.raises(ActionForbidden):
            policy.authorize_create(PEOPLE["tech_a"], draft)


class TestListScope:
    def test_admin_filters_are_kept(self) -> None:
        wanted = UserFilter(role=Role.TECHNICIAN, hospital="Saint-Luc")
        assert policy.list_scope(PEOPLE["admin"], wanted) == wanted

    def test_moderator_is_confined_to_their_hospital(self) -> None:
        scoped = policy.list_scope(PEOPLE["mod_a"], UserFilter(role=Role.TECHNICIAN))
        assert scoped == UserFilter(role=Role.TECHNICIAN, hospital="General")

    def test_moderator_asking_for_another_hospital_matches_nobody(self) -> None:
        assert policy.list_scope(PEOPLE["mod_a"], UserFilter(hospital="Saint-Luc")) is None

    def test_technician_cannot_list(self) -> None:
        with pytest.raises(ActionForbidden):
            policy.list_scope(PEOPLE["tech_a"], UserFilter())

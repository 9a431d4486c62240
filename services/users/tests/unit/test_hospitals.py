"""The hospital list's rules (:mod:`specimen_users.domain.hospitals`), on an in-memory list."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from specimen_kit.hospitals import InvalidHospitalName, hospital_slug
from specimen_kit.roles import Role
from specimen_users.domain.entities import Hospital, HospitalFilter, User
from specimen_users.domain.errors import (
    ActionForbidden,
    HospitalNotFound,
    HospitalTaken,
    UnknownHospital,
    UserChangedMeanwhile,
)
from specimen_users.domain.hospitals import HospitalDirectory

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class MemoryHospitals:
    def __init__(self) -> None:
        self.rows: dict[str, Hospital] = {}

    def get(self, hospital_id: str) -> Hospital | None:
        return self.rows.get(hospital_id)

    def find_same(self, key: str) -> Hospital | None:
        return next((h for h in self.rows.values()
                     if key in (h.id, hospital_slug(h.name))), None)

    def add(self, hospital: Hospital) -> Hospital:
        self.rows[hospital.id] = hospital
        return hospital

    def save(self, hospital: Hospital) -> Hospital:
        self.rows[hospital.id] = hospital
        return hospital

    def list(self, where: HospitalFilter, limit: int, offset: int) -> tuple[list[Hospital], int]:
        found = [h for h in sorted(self.rows.values(), key=lambda h: h.id)
                 if where.q is None or where.q in h.id]
        return found[offset:offset + limit], len(found)


def _user(role: Role) -> User:
    return User(id=1, email="a@b.org", full_name="A", hospital="general", role=role,
                is_active=True, password_hash="x", created_at=T0, updated_at=T0)


ADMIN = _user(Role.ADMIN)


@pytest.fixture
def directory(users: Any) -> HospitalDirectory:
    """The list, and ``users`` (conftest's in-memory accounts) holding ``ADMIN``."""
    users.rows[ADMIN.id] = ADMIN
    times = iter(T0 + timedelta(minutes=n) for n in range(100))
    return HospitalDirectory(MemoryHospitals(), users, lambda: next(times))


class TestCreate:
    def test_the_id_is_the_slug_and_the_name_is_trimmed(self, directory: HospitalDirectory) -> None:
        hospital = directory.create(ADMIN, "  Newcomer Clinic ")
        assert (hospital.id, hospital.name, hospital.created_at) == (
            "newcomer-clinic", "Newcomer Clinic", T0)

    def test_another_spelling_is_taken_naming_the_first(self, directory: HospitalDirectory) -> None:
        directory.create(ADMIN, "Newcomer Clinic")
        with pytest.raises(HospitalTaken) as raised:
            directory.create(ADMIN, "newcomer  CLINIC")
        assert raised.value.status == 409
        assert raised.value.extensions == {"existing_id": "newcomer-clinic",
                                           "existing_name": "Newcomer Clinic"}

    @pytest.mark.parametrize("role", [Role.MODERATOR, Role.TECHNICIAN])
    def test_only_admins(self, directory: HospitalDirectory, role: Role) -> None:
        with pytest.raises(ActionForbidden):
            directory.create(_user(role), "Mine")

    def test_a_name_without_an_id_is_refused(self, directory: HospitalDirectory) -> None:
        with pytest.raises(InvalidHospitalName):
            directory.create(ADMIN, "---")


class TestRename:
    def test_the_id_stays_and_updated_at_moves(self, directory: HospitalDirectory) -> None:
        created = directory.create(ADMIN, "Saint-Luc")
        renamed = directory.rename(ADMIN, "saint-luc", "Cliniques Saint-Luc")
        assert renamed == replace(created, name="Cliniques Saint-Luc",
                                  updated_at=renamed.updated_at)
        assert renamed.updated_at > created.updated_at

    def test_to_another_hospital_s_name_or_id_is_taken(self, directory: HospitalDirectory) -> None:
        directory.create(ADMIN, "General")
        directory.create(ADMIN, "Saint-Luc")
        with pytest.raises(HospitalTaken):
            directory.rename(ADMIN, "saint-luc", "general")

    def test_the_same_name_changes_nothing(self, directory: HospitalDirectory) -> None:
        created = directory.create(ADMIN, "General")
        assert directory.rename(ADMIN, "general", " General ") == created

    def test_unknown_is_not_found(self, directory: HospitalDirectory) -> None:
        with pytest.raises(HospitalNotFound):
            directory.rename(ADMIN, "nowhere", "X")


class TestExistingId:
    def test_an_id_or_a_name_gives_the_id(self, directory: HospitalDirectory) -> None:
        directory.create(ADMIN, "Saint-Luc")
        assert directory.existing_id("saint-luc") == directory.existing_id(" SAINT luc") == (
            "saint-luc")

    def test_unknown_is_422_naming_what_was_given_and_its_id(
            self, directory: HospitalDirectory) -> None:
        with pytest.raises(UnknownHospital) as raised:
            directory.existing_id("Newcomer Clinc")
        assert raised.value.status == 422
        assert raised.value.extensions == {"hospital": "Newcomer Clinc",
                                           "hospital_id": "newcomer-clinc"}


class TestEnsure:
    def test_creates_once(self, directory: HospitalDirectory) -> None:
        first = directory.ensure("Specimen")
        assert directory.ensure("specimen") == first
        assert directory.list_hospitals(HospitalFilter(), 50, 0).total == 1


class TestAuthorityAtTheWrite:
    """Regression (write skew, as for users): an admin demoted or deactivated by another request
    after this one read it still created and renamed hospitals."""

    @pytest.mark.parametrize("change", [{"role": Role.TECHNICIAN}, {"is_active": False}])
    def test_an_admin_changed_meanwhile_writes_nothing(self, directory: HospitalDirectory, users: Any,
                                                       change: dict[str, Any]) -> None:
        directory.create(ADMIN, "Newcomer Clinic")
        users.rows[ADMIN.id] = replace(ADMIN, **change)
        with pytest.raises(UserChangedMeanwhile):
            directory.create(ADMIN, "Second Clinic")
        with pytest.raises(UserChangedMeanwhile):
            directory.rename(ADMIN, "newcomer-clinic", "Renamed Clinic")
        names = [h.name for h in directory.list_hospitals(HospitalFilter(), 10, 0).items]
        assert names == ["Newcomer Clinic"]

"""The managed list of hospitals: the tenants users and scans belong to.

The rules:

- **Identity.** A hospital's id is the slug of the name it was created with
  (:func:`specimen_kit.hospitals.hospital_slug`), stable for ever: tokens carry it (claim
  ``hospital``), users and the classify service's scans store it. Renaming changes the display
  name only.
- **One tenant per name.** No two hospitals share an id, nor the slug of their display names:
  creating "newcomer clinic " when "Newcomer Clinic" exists, or renaming a hospital to another's
  name, is :class:`HospitalTaken` (409) naming the existing one. A typo is thus refused instead
  of silently starting a new tenant.
- **Reading** is for every signed-in user (a form that files a user or a scan needs the list);
  **creating and renaming** for admins (403 otherwise). The change is written only while the
  caller's account is still the admin its request was allowed as (``UserChangedMeanwhile``, 409,
  otherwise).
- **No deletion.** Ids are never reused (API.md): a hospital's id may live on in scans, tokens
  and exports, and a new hospital must never inherit what an old one left behind.
- **A user names an existing hospital.** Given as the id or the name (both slug to the id); an
  unknown one is :class:`UnknownHospital` (422), never a new tenant.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from specimen_kit.hospitals import InvalidHospitalName, hospital_name, hospital_slug
from specimen_kit.roles import Role
from specimen_users.domain.entities import Hospital, HospitalFilter, HospitalPage, User
from specimen_users.domain.errors import (
    ActionForbidden,
    HospitalNotFound,
    HospitalTaken,
    UnknownHospital,
)
from specimen_users.domain.ports import Clock, HospitalRepository, UserRepository

logger = logging.getLogger(__name__)


def _require_admin(actor: User, action: str) -> None:
    if actor.role is not Role.ADMIN:
        raise ActionForbidden(f"Only admins {action} hospitals.")


class HospitalDirectory:
    """The use-cases on the hospital list."""

    def __init__(self, hospitals: HospitalRepository, users: UserRepository, clock: Clock) -> None:
        self._hospitals = hospitals
        self._users = users
        self._clock = clock

    def list_hospitals(self, where: HospitalFilter, limit: int, offset: int) -> HospitalPage:
        """One page; ``where.q`` matches a part of the name, compared as slugs (so case, accents
        as NFKC folds them, and punctuation do not matter), and is made one here."""
        q = hospital_slug(where.q) if where.q is not None and where.q.strip() else None
        items, total = self._hospitals.list(replace(where, q=q), limit, offset)
        return HospitalPage(items=items, total=total, limit=limit, offset=offset)

    def get(self, hospital_id: str) -> Hospital:
        """The hospital of ``hospital_id`` (its name is accepted too: both slug to the id)."""
        try:
            key = hospital_slug(hospital_id)
        except InvalidHospitalName:
            raise HospitalNotFound(hospital_id) from None
        hospital = self._hospitals.get(key)
        if hospital is None:
            raise HospitalNotFound(hospital_id)
        return hospital

    def create(self, actor: User, name: str) -> Hospital:
        """A new hospital named ``name``, its id the name's slug.

        Raises
        ------
        ActionForbidden
            ``actor`` is not an admin.
        InvalidHospitalName
            Empty, too long, control characters, no letter or digit.
        HospitalTaken
            The slug is an existing hospital's id or the slug of its name.
        UserChangedMeanwhile
            ``actor``'s role, hospital or activity changed since the request read it.
        """
        _require_admin(actor, "create")
        self._users.confirm_authority(actor)
        hospital = self._add(name)
        logger.info("hospital created", extra={"hospital": hospital.id, "by": actor.id})
        return hospital

    def rename(self, actor: User, hospital_id: str, name: str) -> Hospital:
        """Change the display name of ``hospital_id``; its id stays."""
        _require_admin(actor, "rename")
        self._users.confirm_authority(actor)
        hospital = self.get(hospital_id)
        name = hospital_name(name)
        if name == hospital.name:
            return hospital
        same = self._hospitals.find_same(hospital_slug(name))
        if same is not None and same.id != hospital.id:
            raise HospitalTaken(name, same.id, same.name)
        renamed = self._hospitals.save(replace(hospital, name=name, updated_at=self._clock()))
        logger.info("hospital renamed", extra={"hospital": hospital.id, "by": actor.id})
        return renamed

    def existing_id(self, given: str) -> str:
        """The id of the existing hospital ``given`` names (by id or name).

        Raises
        ------
        UnknownHospital
            No hospital has that id (422: a user must name a hospital of the list).
        """
        key = hospital_slug(given)  # InvalidHospitalName (422) when it cannot be an id at all
        if self._hospitals.get(key) is None:
            raise UnknownHospital(given, key)
        return key

    def ensure(self, name: str) -> Hospital:
        """The hospital of ``name``, created first when missing (the first admin's)."""
        existing = self._hospitals.get(hospital_slug(name))
        if existing is not None:
            return existing
        try:
            return self._add(name)
        except HospitalTaken:
            # Another replica bootstrapping at the same moment won the race.
            return self.get(name)

    def _add(self, name: str) -> Hospital:
        name = hospital_name(name)
        key = hospital_slug(name)
        same = self._hospitals.find_same(key)
        if same is not None:
            raise HospitalTaken(name, same.id, same.name)
        now = self._clock()
        return self._hospitals.add(Hospital(id=key, name=name, created_at=now, updated_at=now))

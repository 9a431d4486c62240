"""The three roles of Specimen and their order."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """``admin`` > ``moderator`` (a doctor: their hospital) > ``technician``."""

    TECHNICIAN = "technician"
    MODERATOR = "moderator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def at_least(self, minimum: Role) -> bool:
        return self.rank >= minimum.rank


_RANKS = {Role.TECHNICIAN: 1, Role.MODERATOR: 2, Role.ADMIN: 3}

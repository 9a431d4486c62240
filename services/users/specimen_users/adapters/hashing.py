"""bcrypt through passlib's ``CryptContext``."""

from __future__ import annotations

import secrets

from passlib.context import CryptContext

from specimen_users.domain.validation import MAX_PASSWORD_BYTES


class BcryptPasswordHasher:
    """Hashes with bcrypt at ``rounds``; older hashes (fewer rounds) are flagged for rehash.

    The dummy hash, made once here at start-up, gives a login with an unknown email the same
    bcrypt cost as one with a wrong password.
    """

    def __init__(self, rounds: int) -> None:
        self._context = CryptContext(schemes=["bcrypt"], bcrypt__rounds=rounds,
                                     bcrypt__min_rounds=rounds)
        self._dummy_hash = str(self._context.hash(secrets.token_urlsafe(16)))

    @property
    def dummy_hash(self) -> str:
        return self._dummy_hash

    def hash(self, password: str) -> str:
        return str(self._context.hash(password))

    def verify(self, password: str, password_hash: str) -> bool:
        if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES or "\x00" in password:
            # No stored password can be this long (the policy refuses it), and bcrypt would
            # raise; spend the same time anyway so the answer's timing says nothing.
            self._context.verify("x", self._dummy_hash)
            return False
        try:
            return bool(self._context.verify(password, password_hash))
        except ValueError:  # a malformed stored hash: the password cannot match it
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return bool(self._context.needs_update(password_hash))

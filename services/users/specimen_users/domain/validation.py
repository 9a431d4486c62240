"""Normalization and limits of user fields: password, email, full name (hospitals:
:mod:`specimen_kit.hospitals`)."""

from __future__ import annotations

import re

from specimen_users.domain.errors import InvalidUserData, PasswordTooLong, WeakPassword

MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_BYTES = 72  # bcrypt reads no further; longer input is refused, never truncated
MAX_EMAIL_CHARS = 254
MAX_FULL_NAME_CHARS = 200

# Deliberately loose: the mailbox is the deployment's business, and reserved domains such as
# ``.local`` (the default admin) must pass; we only refuse what cannot be an address.
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_password(password: str) -> None:
    """Refuse a password bcrypt would truncate or that is too short.

    Parameters
    ----------
    password : str
        The new password in clear.

    Raises
    ------
    WeakPassword
        Fewer than ``MIN_PASSWORD_CHARS`` characters, or a NUL character (bcrypt stops there).
    PasswordTooLong
        More than ``MAX_PASSWORD_BYTES`` bytes in UTF-8; ``"é" * 37`` is 74 bytes.

    Examples
    --------
    >>> check_password("correct horse")
    """
    if len(password) < MIN_PASSWORD_CHARS:
        raise WeakPassword(f"The password must have at least {MIN_PASSWORD_CHARS} characters.",
                           min_chars=MIN_PASSWORD_CHARS)
    if "\x00" in password:
        raise WeakPassword("The password must not contain NUL characters.")
    size = len(password.encode("utf-8"))
    if size > MAX_PASSWORD_BYTES:
        raise PasswordTooLong(
            f"The password is {size} bytes in UTF-8; the limit is {MAX_PASSWORD_BYTES} bytes "
            "(characters outside ASCII take 2 to 4 bytes each).",
            max_bytes=MAX_PASSWORD_BYTES, actual_bytes=size,
        )


def normalize_email(email: str) -> str:
    """Trim and lower-case; the unique index holds this form, so lookups are case-insensitive.

    Raises
    ------
    InvalidUserData
        When the text cannot be an email address.

    Examples
    --------
    >>> normalize_email("  Ada@Example.ORG ")
    'ada@example.org'
    """
    normalized = email.strip().lower()
    if len(normalized) > MAX_EMAIL_CHARS or not _EMAIL.match(normalized):
        raise InvalidUserData(f"{email!r} is not an email address of the form name@domain.tld.")
    return normalized


def login_email(email: str) -> str:
    """The lookup key of a login attempt; never raises, so bad input reads as unknown."""
    return email.strip().lower()


def normalize_full_name(full_name: str) -> str:
    """Trim; 1 to ``MAX_FULL_NAME_CHARS`` characters."""
    trimmed = full_name.strip()
    if not 1 <= len(trimmed) <= MAX_FULL_NAME_CHARS:
        raise InvalidUserData(
            f"The full name must have 1 to {MAX_FULL_NAME_CHARS} characters once trimmed.")
    return trimmed

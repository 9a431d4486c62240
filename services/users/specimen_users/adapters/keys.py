"""The RSA signing key: from settings, or generated once into the data directory in development."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from specimen_kit.jwk import generate_private_key_pem
from specimen_users.config import UsersSettings

logger = logging.getLogger(__name__)

DEV_KEY_FILE = Path("keys") / "jwt-private.pem"


def _write_private(path: Path, text: str) -> bool:
    """Create ``path`` with mode 0600 holding ``text``; False when it already exists."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        # O_EXCL: of two processes starting together, one writes and both read the same key.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    return True


def load_signing_key(settings: UsersSettings) -> str:
    """The private PEM that signs access tokens.

    ``SPECIMEN_JWT_PRIVATE_KEY`` when set (required in production, checked by the settings);
    otherwise ``{data_dir}/keys/jwt-private.pem``, generated on first use, so that tokens stay
    valid across restarts of a development instance.
    """
    if settings.jwt_private_key is not None:
        return settings.jwt_private_key.get_secret_value()
    path = settings.data_dir / DEV_KEY_FILE
    if _write_private(path, generate_private_key_pem()):
        logger.warning("generated a development signing key", extra={"path": str(path)})
    return path.read_text()


def development_admin_password(settings: UsersSettings) -> str:
    """``SPECIMEN_ADMIN_PASSWORD``, or a random one generated once into the data directory."""
    if settings.admin_password is not None:
        return settings.admin_password.get_secret_value()
    path = settings.data_dir / "admin-password.txt"
    if _write_private(path, secrets.token_urlsafe(18) + "\n"):
        logger.warning("generated the first admin's password; read it from the file",
                       extra={"path": str(path.resolve()), "email": settings.admin_email})
    return path.read_text().strip()

"""The caller's name, asked of the users service that keeps it (EcoTaxa's annotator name).

Access tokens carry the user's id, role and hospital, not their name, and a name the client
sends is whatever it likes (anyone could annotate as someone else). So the review asks
``GET {users}/api/v1/auth/me`` with the caller's own ``Authorization`` header, as
:mod:`specimen_classify.adapters.hospital_directory` asks about hospitals: the users service
answers for the token's own user only, so the name is the caller's.

When the users service cannot answer (down, slow, an error), the annotation is not refused, a
person's review is worth more than its label: the name recorded is ``user <id>``, the caller's
Specimen user id, which the token vouches for and an operator can map back to a person.
"""

from __future__ import annotations

import logging

import httpx

logger = logging.getLogger(__name__)

MAX_NAME_CHARS = 200


def fallback_name(user_id: int) -> str:
    """The name recorded when the users service cannot say: the caller's user id."""
    return f"user {user_id}"


class UsersNameDirectory:
    """The caller's full name from the users service, ``user <id>`` when it cannot answer.

    ``client`` has the users service's base URL and timeout (the app's lifespan owns it);
    ``authorization`` is the caller's header, passed on as it came.
    """

    def __init__(self, client: httpx.Client, authorization: str) -> None:
        self._client = client
        self._authorization = authorization

    def name_of(self, user_id: int) -> str:
        try:
            response = self._client.get("/api/v1/auth/me",
                                        headers={"Authorization": self._authorization})
        except httpx.HTTPError as error:
            logger.warning("users service unreachable; annotator named by id",
                           extra={"error": repr(error), "user_id": user_id})
            return fallback_name(user_id)
        if response.status_code != httpx.codes.OK:
            logger.warning("users service refused the annotator's name; named by id",
                           extra={"status": response.status_code, "user_id": user_id})
            return fallback_name(user_id)
        try:
            body = response.json()
        except ValueError:
            body = None
        name = body.get("full_name") if isinstance(body, dict) else None
        if (not isinstance(name, str) or not name.strip() or not name.isprintable()
                or body.get("id") != user_id):
            logger.warning("users service gave no usable name; annotator named by id",
                           extra={"user_id": user_id})
            return fallback_name(user_id)
        return name.strip()[:MAX_NAME_CHARS]

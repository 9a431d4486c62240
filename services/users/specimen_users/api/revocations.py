"""``/.well-known/revocations``: the recent token revocations, for the other services.

Internal: the gateway's route table does not list it, so only the suite's own services reach
it (as they reach the JWKS). It names user ids and versions, nothing else.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from specimen_kit.revocations import revocations_document
from specimen_users.api.deps import Revoker

router = APIRouter(tags=["keys"])


@router.get("/.well-known/revocations", include_in_schema=False,
            summary="Access tokens revoked before they expire (specimen_kit.revocations)")
def revocations(revoker: Revoker) -> dict[str, Any]:
    return revocations_document(revoker.active())

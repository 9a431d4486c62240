"""``/.well-known/jwks.json``: the public key every service verifies access tokens with."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

router = APIRouter(tags=["keys"])


@router.get("/.well-known/jwks.json", summary="Public signing keys (JWKS, RFC 7517)")
async def jwks(request: Request) -> dict[str, Any]:
    keys: dict[str, Any] = request.app.state.token_signer.jwks
    return keys

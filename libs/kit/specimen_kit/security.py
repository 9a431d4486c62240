"""FastAPI dependencies that turn the bearer token into a principal and check its role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.security import OAuth2PasswordBearer

from specimen_kit.errors import Forbidden, Unauthenticated
from specimen_kit.health import ReadinessCheck
from specimen_kit.roles import Role
from specimen_kit.tokens import Principal, TokenVerifier

# The OAuth2 password scheme makes Swagger UI's *Authorize* log in through the users service.
bearer_token = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/login", auto_error=False)


async def current_principal(
    request: Request, token: Annotated[str | None, Depends(bearer_token)]
) -> Principal:
    if not token:
        raise Unauthenticated("This route needs a bearer access token.")
    verifier: TokenVerifier = request.app.state.token_verifier
    return await verifier.verify(token)


def token_checks_ready(app: FastAPI) -> ReadinessCheck:
    """Readiness of ``app.state.token_verifier`` (its revocation list was fetched since start).

    The verifier is looked up when the check runs, as :func:`current_principal` looks it up.
    """

    async def check() -> None:
        verifier: TokenVerifier = app.state.token_verifier
        await verifier.check_ready()

    return check


def require_role(minimum: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not principal.at_least(minimum):
            raise Forbidden(f"This route needs the role {minimum.value} or higher.")
        return principal

    return check


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
ModeratorOrAbove = Annotated[Principal, Depends(require_role(Role.MODERATOR))]
AdminOnly = Annotated[Principal, Depends(require_role(Role.ADMIN))]

"""``/auth``: login (JSON or the OAuth2 password form), refresh, logout, me."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from specimen_kit.openapi_problems import documented_problems
from specimen_users.api.deps import Auth, ClientAddress, CurrentUser, Throttle
from specimen_users.api.schemas import LoginRequest, RefreshRequest, TokenPair, UserPublic

router = APIRouter(prefix="/auth", tags=["auth"])

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _login_request(request: Request) -> LoginRequest:
    """The credentials, from JSON ``{email, password}`` or the OAuth2 password form.

    The form (``username``/``password``) is what Swagger UI's *Authorize* sends; its other
    OAuth2 fields (``grant_type``, ``scope``, client credentials) are ignored.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type in _FORM_TYPES:
            form = await request.form()
            return LoginRequest.model_validate(
                {"email": form.get("username"), "password": form.get("password")})
        return LoginRequest.model_validate_json(await request.body())
    except ValidationError as error:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_context=False)]
        ) from None


_LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginRequest.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": {
                "type": "object", "required": ["username", "password"],
                "properties": {"username": {"type": "string", "description": "The email."},
                               "password": {"type": "string", "format": "password"}},
            }},
        },
    }
}


@router.post("/login", response_model=TokenPair, openapi_extra=_LOGIN_BODY,
             summary="Exchange email and password for an access and a refresh token",
             responses={401: {"description": "Invalid credentials"},
                        429: {"description": "Too many attempts; see Retry-After"}})
async def login(credentials: Annotated[LoginRequest, Depends(_login_request)],
                throttle: Throttle, address: ClientAddress, auth: Auth) -> TokenPair:
    tokens = await throttle.guard(credentials.email, address, partial(
        run_in_threadpool, auth.login, credentials.email, credentials.password))
    return TokenPair.of(tokens)


@router.post("/refresh", response_model=TokenPair,
             responses=documented_problems({401: "The refresh token is unknown, used or expired."}),
             summary="Rotate a refresh token into a new token pair")
def refresh(body: RefreshRequest, auth: Auth) -> TokenPair:
    return TokenPair.of(auth.refresh(body.refresh_token))


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT,
             summary="Revoke a refresh token and its session (unknown tokens are ignored)")
def logout(body: RefreshRequest, auth: Auth) -> None:
    auth.logout(body.refresh_token)


@router.get("/me", response_model=UserPublic, summary="The caller's account")
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.of(user)

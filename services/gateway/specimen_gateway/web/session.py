"""``/ui/session``: sign in, refresh and sign out for the web UI, with httpOnly cookies.

The gateway asks the users service exactly as a script would (``POST /api/v1/auth/login``,
``/refresh``, ``/logout``), then keeps the answer's tokens in cookies the page's JavaScript
cannot read (:mod:`specimen_gateway.domain.browser_session`). Each route takes a form (htmx, or
a plain form without JavaScript) or JSON, and always the CSRF token of the page that sent it.

Answers: to htmx, ``204`` with ``HX-Redirect`` on success and an HTML fragment with the
problem's ``detail`` on failure (at the problem's status); to a plain form, a ``303`` redirect
or the login page again with the detail; to ``fetch``, ``204`` or the users service's
problem+json unchanged.
"""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import aiohttp
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from specimen_gateway.adapters.proxy import GatewayRuntime, UpstreamUnavailable
from specimen_gateway.domain.browser_session import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    CSRF_FORM_FIELD,
    CSRF_HEADER,
    REFRESH_COOKIE,
    CsrfRejected,
    same_token,
)
from specimen_gateway.web.security import SECURITY_HEADERS
from specimen_kit.errors import (
    MalformedJson,
    Problem,
    Unauthenticated,
    UnsupportedMediaType,
)
from specimen_kit.logs import request_id_var
from specimen_kit.problems import PROBLEM_JSON

SESSION_PATH = "/ui/session"
USERS_AUTH = "/api/v1/auth"
_FORM = "application/x-www-form-urlencoded"


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def is_secure(request: Request) -> bool:
    """Served over TLS, here or (``SPECIMEN_TRUSTED_PROXIES``) at the ingress in front."""
    return request.url.scheme == "https"


def set_csrf_cookie(response: Response, token: str, secure: bool) -> None:
    response.set_cookie(CSRF_COOKIE, token, path="/", secure=secure, httponly=True,
                        samesite="strict")


def local_target(target: str | None, default: str = "/") -> str:
    """``next`` only within this site: a path, never ``//host`` or a URL (no open redirect).

    >>> local_target("/library?q=a"), local_target("//evil.example"), local_target("https://x")
    ('/library?q=a', '/', '/')
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    return target


async def _fields(request: Request) -> dict[str, str]:
    body = await request.body()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not body:
        return {}
    if media_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise MalformedJson("The body is not valid JSON.") from None
        if not isinstance(data, dict):
            raise Problem("The body must be a JSON object.")
        return {str(key): str(value) for key, value in data.items() if value is not None}
    if media_type == _FORM:
        return {key: values[0] for key, values in
                parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True).items()}
    raise UnsupportedMediaType(f"Send a form ({_FORM}) or JSON, not {media_type or 'an untyped body'}.")


def _check_csrf(request: Request, fields: dict[str, str]) -> None:
    sent = request.headers.get(CSRF_HEADER) or fields.get(CSRF_FORM_FIELD)
    if not same_token(sent, request.cookies.get(CSRF_COOKIE)):
        raise CsrfRejected("The page's CSRF token is missing or out of date; reload the page "
                           "and try again.")


class UsersAnswer:
    """The users service's answer: status, parsed JSON body (or ``{}``) and ``Retry-After``."""

    def __init__(self, status: int, body: dict[str, Any], retry_after: str | None) -> None:
        self.status, self.body, self.retry_after = status, body, retry_after

    @property
    def detail(self) -> str:
        return str(self.body.get("detail") or f"The users service answered {self.status}.")

    def problem_response(self) -> JSONResponse:
        headers = {"Retry-After": self.retry_after} if self.retry_after else {}
        return JSONResponse(self.body, status_code=self.status, media_type=PROBLEM_JSON,
                            headers=headers)


async def _ask_users(request: Request, action: str, payload: dict[str, str]) -> UsersAnswer:
    runtime: GatewayRuntime = request.app.state.gateway_runtime
    upstream = runtime.upstreams.get("users")
    if upstream is None:
        raise UpstreamUnavailable("The users service is unavailable.", service="users")
    headers = {"content-type": "application/json", "accept": "application/json",
               "x-forwarded-proto": request.url.scheme}
    if request.client:
        headers["x-forwarded-for"] = request.client.host
    if request_id := request_id_var.get():
        headers["x-request-id"] = request_id
    try:
        async with upstream.session.post(
            upstream.base_url + f"{USERS_AUTH}/{action}", data=json.dumps(payload),
            headers=headers, timeout=upstream.timeout, allow_redirects=False,
        ) as response:
            raw = await response.read()
            retry_after = response.headers.get("Retry-After")
            status = response.status
    except (TimeoutError, aiohttp.ClientError, OSError):
        raise UpstreamUnavailable("The users service is unavailable.", service="users") from None
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        body = {}
    return UsersAnswer(status, body if isinstance(body, dict) else {}, retry_after)


def _keep_tokens(response: Response, tokens: dict[str, Any], secure: bool,
                 refresh_seconds: int) -> None:
    if not (isinstance(tokens.get("access_token"), str)
            and isinstance(tokens.get("refresh_token"), str)):
        raise UpstreamUnavailable("The users service answered without tokens.", service="users")
    response.set_cookie(ACCESS_COOKIE, str(tokens["access_token"]),
                        max_age=int(tokens.get("expires_in", 900)), path="/", secure=secure,
                        httponly=True, samesite="strict")
    response.set_cookie(REFRESH_COOKIE, str(tokens["refresh_token"]), max_age=refresh_seconds,
                        path=SESSION_PATH, secure=secure, httponly=True, samesite="strict")


def clear_session(response: Response, secure: bool) -> None:
    for name, path in ((ACCESS_COOKIE, "/"), (REFRESH_COOKIE, SESSION_PATH)):
        response.delete_cookie(name, path=path, secure=secure, httponly=True, samesite="strict")


def _is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def _wants_form_answer(request: Request) -> bool:
    return request.headers.get("content-type", "").startswith(_FORM) and not _is_htmx(request)


def _redirect(request: Request, target: str) -> Response:
    if _is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": target})
    if _wants_form_answer(request):
        return RedirectResponse(target, status_code=303)
    return Response(status_code=204)


def session_router(templates: Jinja2Templates, refresh_seconds: int) -> APIRouter:
    router = APIRouter(prefix=SESSION_PATH, include_in_schema=False)

    def failure(request: Request, answer: UsersAnswer, fields: dict[str, str]) -> Response:
        headers = {"Retry-After": answer.retry_after} if answer.retry_after else {}
        if _is_htmx(request):
            return templates.TemplateResponse(
                request, "_problem.html", {"detail": answer.detail},
                status_code=answer.status, headers={**SECURITY_HEADERS, **headers})
        if _wants_form_answer(request):
            csrf = request.cookies.get(CSRF_COOKIE) or new_csrf_token()
            return templates.TemplateResponse(
                request, "login.html",
                {"csrf_token": csrf, "problem": answer.detail, "page": "login",
                 "next": local_target(fields.get("next")), "email": fields.get("email", "")},
                status_code=answer.status, headers={**SECURITY_HEADERS, **headers})
        return answer.problem_response()

    @router.post("")
    async def sign_in(request: Request) -> Response:
        fields = await _fields(request)
        _check_csrf(request, fields)
        answer = await _ask_users(request, "login", {
            "email": fields.get("email", ""), "password": fields.get("password", "")})
        if answer.status != 200:
            return failure(request, answer, fields)
        response = _redirect(request, local_target(fields.get("next")))
        secure = is_secure(request)
        _keep_tokens(response, answer.body, secure, refresh_seconds)
        # A new token for the signed-in session: one fixed before sign-in cannot be reused.
        set_csrf_cookie(response, new_csrf_token(), secure)
        return response

    @router.post("/refresh")
    async def refresh(request: Request) -> Response:
        fields = await _fields(request)
        _check_csrf(request, fields)
        token = request.cookies.get(REFRESH_COOKIE)
        if not token:
            raise Unauthenticated("No session to refresh: sign in again.")
        answer = await _ask_users(request, "refresh", {"refresh_token": token})
        if answer.status != 200:
            response = failure(request, answer, fields)
            if answer.status in (400, 401, 403, 422):
                clear_session(response, is_secure(request))
            return response
        response = Response(status_code=204)
        _keep_tokens(response, answer.body, is_secure(request), refresh_seconds)
        return response

    @router.get("/resume")
    async def resume(request: Request, next: Annotated[str | None, Query()] = None) -> Response:
        """A page found no access cookie (it ended with its token): refresh, then go back.

        Only the refresh cookie's path sees it, hence this stop on the way. A GET, so that a
        page can redirect here; another site cannot send the browser here with the cookies
        (``SameSite=Strict``), and a refresh changes nothing but the tokens' values.
        """
        target = local_target(next)
        token = request.cookies.get(REFRESH_COOKIE)
        answer = await _ask_users(request, "refresh", {"refresh_token": token}) if token else None
        if answer is None or answer.status != 200:
            response = RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
            if answer is not None and answer.status in (400, 401, 403, 422):
                clear_session(response, is_secure(request))
            return response
        response = RedirectResponse(target, status_code=303)
        _keep_tokens(response, answer.body, is_secure(request), refresh_seconds)
        return response

    @router.post("/logout")
    async def sign_out(request: Request) -> Response:
        fields = await _fields(request)
        _check_csrf(request, fields)
        token = request.cookies.get(REFRESH_COOKIE)
        if token:
            # Revokes the session and the user's access tokens; an unknown or expired refresh
            # token is already no session, so the cookies go whatever the answer.
            await _ask_users(request, "logout", {"refresh_token": token})
        response = _redirect(request, "/login")
        clear_session(response, is_secure(request))
        return response

    return router


"""The UI's pages: each renders its shell (Jinja2); its ES module does the rest through the API.

A page needs a session: without the access cookie it goes by ``/ui/session/resume``, which
refreshes the session and comes back, or sends the user to ``/login?next=…``. That
is only a shortcut for the common case, not access control: the cookies' tokens are checked by
the gateway and the services on every API request the page then makes, and a page whose token
is refused sends its user to sign in again. Every page carries the CSRF token (a ``<meta>`` the
modules read, and ``hx-headers`` for htmx) and the security headers of :mod:`.security`.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from specimen_gateway.domain.browser_session import ACCESS_COOKIE, CSRF_COOKIE
from specimen_gateway.web.security import SECURITY_HEADERS, STATIC_URL
from specimen_gateway.web.session import (
    SESSION_PATH,
    is_secure,
    local_target,
    new_csrf_token,
    set_csrf_cookie,
)

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class Page:
    path: str
    template: str
    title: str
    nav: str | None  # label in the navigation, None: not listed


PAGES = (
    Page("/", "home.html", "Home", "Home"),
    Page("/library", "library.html", "Library", "Library"),
    Page("/segment", "segment.html", "Segment", "Segment"),
    Page("/mri", "mri.html", "MRI", "MRI"),
    Page("/projects", "projects.html", "Plankton projects", "Projects"),
    Page("/models", "models.html", "Models", "Models"),
    Page("/users", "users.html", "Users", "Users"),
    Page("/account", "account.html", "Account", "Account"),
)
LOGIN_PATH = "/login"
LoginReason = Literal["password-changed", "signed-out"]
LOGIN_NOTICES = {
    "password-changed": "Your password was changed: sign in with the new one.",
    "signed-out": "You are signed out.",
}
PAGE_PATHS = frozenset({LOGIN_PATH, *(page.path for page in PAGES)})
# A project's pages: /projects/{id} (members, frames, runs, export) and /projects/{id}/review
# (the object gallery). Anything else under the prefix is the not-found page. Whether the
# project exists, and is the user's, is the API's answer to the page's requests (a 404 there
# shows the same not-found page): the gateway keeps no data of its own.
PROJECT_PREFIX = "/projects/"
PROJECT_VIEWS = {"": ("project.html", "Plankton project"),
                 "review": ("review.html", "Review objects")}
NOT_FOUND_TITLE = "Not found"


def templates() -> Jinja2Templates:
    found = Jinja2Templates(directory=TEMPLATES_DIR)
    found.env.globals.update(static=STATIC_URL, nav=[page for page in PAGES if page.nav])
    return found


def _render(view: Jinja2Templates, request: Request, template: str,
            context: dict[str, Any], status: int = 200) -> Response:
    token = request.cookies.get(CSRF_COOKIE)
    fresh = token is None
    token = token or new_csrf_token()
    response = view.TemplateResponse(request, template, {"csrf_token": token, **context},
                                     status_code=status, headers=SECURITY_HEADERS)
    if fresh:
        set_csrf_cookie(response, token, is_secure(request))
    return response




def pages_router(view: Jinja2Templates) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(LOGIN_PATH)
    async def login(request: Request, next: Annotated[str | None, Query()] = None,
                    reason: Annotated[LoginReason | None, Query()] = None) -> Response:
        return _render(view, request, "login.html",
                       {"page": "login", "title": "Sign in", "next": local_target(next),
                        "problem": None, "email": "", "notice": LOGIN_NOTICES.get(reason or "")})

    def page_view(page: Page) -> Callable[..., Coroutine[Any, Any, Response]]:
        async def show(request: Request, image: Annotated[str | None, Query()] = None) -> Response:
            if not request.cookies.get(ACCESS_COOKIE):
                return _resume(request)
            return _render(view, request, page.template,
                           {"page": page.template.removesuffix(".html"), "title": page.title,
                            "image_id": image})

        return show

    for page in PAGES:
        router.add_api_route(page.path, page_view(page), methods=["GET"])

    @router.get(PROJECT_PREFIX + "{rest:path}")
    async def project_page(request: Request, rest: str) -> Response:
        if not request.cookies.get(ACCESS_COOKIE):
            return _resume(request)
        project_id, _, view_name = rest.partition("/")
        found = PROJECT_VIEWS.get(view_name)
        if found is None or not _is_record_id(project_id):
            return _render(view, request, "not_found.html",
                           {"page": "not-found", "title": NOT_FOUND_TITLE, "image_id": None,
                            "section": "/projects"},
                           status=404)
        template, title = found
        return _render(view, request, template,
                       {"page": template.removesuffix(".html"), "title": title,
                        "project_id": int(project_id), "image_id": None, "section": "/projects"})

    return router


def _is_record_id(text: str) -> bool:
    return text.isascii() and text.isdigit() and not text.startswith("0") and len(text) <= 18


def _resume(request: Request) -> Response:
    """Signed out, or the access token ended: the refresh cookie (which only /ui/session sees)
    decides which, on the way back here or to sign in."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{SESSION_PATH}/resume?next={quote(target, safe='/')}",
                            status_code=303)

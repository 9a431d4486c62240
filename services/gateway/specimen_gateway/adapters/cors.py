"""CORS for browsers on the origins of ``SPECIMEN_CORS_ORIGINS``, with refusals as problems.

Starlette's middleware answers a preflight it refuses with a plain-text 400; every error of the
suite is problem+json (API.md, *Errors*), so that one answer is rendered like the rest.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import Receive, Scope, Send

from specimen_kit.errors import Problem
from specimen_kit.problems import send_problem


class CorsRefused(Problem):
    """A browser's preflight named an origin, method or header the gateway does not allow
    (``SPECIMEN_CORS_ORIGINS``)."""

    status = 400
    title = "CORS request refused"
    slug = "cors-refused"


class ProblemCorsMiddleware(CORSMiddleware):
    """Starlette's CORS handling; a refused preflight is a :class:`CorsRefused` problem."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "OPTIONS":
            headers = Headers(scope=scope)
            if "origin" in headers and "access-control-request-method" in headers:
                response = self.preflight_response(request_headers=headers)
                if response.status_code == 400:
                    problem = CorsRefused(f"{bytes(response.body).decode()}; the gateway allows "
                                          "the origins of SPECIMEN_CORS_ORIGINS.")
                    problem.headers.update(
                        (name, value) for name, value in response.headers.items()
                        if name.startswith("access-control-") or name == "vary")
                    await send_problem(send, problem, scope["path"])
                    return
        await super().__call__(scope, receive, send)

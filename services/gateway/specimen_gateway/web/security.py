"""Response headers of every UI page and asset: a strict Content-Security-Policy and friends.

No inline script or style anywhere (``'unsafe-inline'`` is absent, and so is ``'unsafe-eval'``:
htmx runs with ``allowEval`` off); scripts, styles and requests go to the gateway's own origin
only; pictures may also be ``data:`` and ``blob:`` URLs (results drawn in the page). The page may
not be framed (clickjacking) nor send a referrer.
"""

from __future__ import annotations

from pathlib import Path

from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "font-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
))

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
_RAW_HEADERS = [(name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()]

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_URL = "/ui/static"


class UiStaticFiles(StaticFiles):
    """The UI's JavaScript, CSS and vendored libraries, with the security headers."""

    def __init__(self) -> None:
        super().__init__(directory=STATIC_DIR)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_RAW_HEADERS,
                                      (b"cache-control", b"no-cache")]
            await send(message)

        await super().__call__(scope, receive, with_headers)

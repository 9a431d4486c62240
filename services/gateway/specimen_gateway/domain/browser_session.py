"""The web UI's session: tokens in httpOnly cookies, turned into a bearer token at the gateway.

Scripts send ``Authorization: Bearer``; a browser holds its tokens where no script can read
them (the access token never reaches JavaScript or ``localStorage``, where an XSS would take it).
The gateway sets three cookies at sign-in, all ``HttpOnly`` and ``SameSite=Strict`` (and
``Secure`` when the page was served over TLS):

- :data:`ACCESS_COOKIE`, the access token, living as long as the token;
- :data:`REFRESH_COOKIE`, the refresh token, sent only to ``/ui/session`` (its path);
- :data:`CSRF_COOKIE`, a random token the page also carries in its markup.

A request that carries the access cookie and no ``Authorization`` header is forwarded with the
cookie's token as its bearer token. Cookies ride along on any request the browser makes, so an
unsafe one (anything but GET, HEAD, OPTIONS) must also prove it comes from a page of ours: its
``X-CSRF-Token`` header must equal the CSRF cookie (double submit). Another site can make the
browser send the cookies but can neither read the token out of our pages nor set the header
without a CORS preflight the gateway refuses. A request with its own ``Authorization`` header is
left as it is: its caller chose its credentials, cookies play no part. The session cookies never
travel upstream: the services have no use for them and must not see the tokens twice.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from dataclasses import dataclass

from specimen_kit.errors import Problem

ACCESS_COOKIE = "specimen_access"
REFRESH_COOKIE = "specimen_refresh"
CSRF_COOKIE = "specimen_csrf"
CSRF_HEADER = "x-csrf-token"
CSRF_FORM_FIELD = "csrf_token"
SESSION_COOKIES = frozenset({ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_CSRF_HEADER_BYTES = CSRF_HEADER.encode()


class CsrfRejected(Problem):
    """An unsafe request made with the session cookie lacks the page's CSRF token (header
    ``X-CSRF-Token``); reload the page and try again."""

    status = 403
    title = "CSRF token missing or wrong"
    slug = "csrf-rejected"


def parse_cookies(values: Iterable[str]) -> dict[str, str]:
    """Name to value for every ``Cookie`` header (RFC 6265 section 4.2: ``a=1; b=2``).

    The first of repeated names wins, as browsers send the most specific cookie first.

    >>> parse_cookies(["a=1; b=two", "a=3"])
    {'a': '1', 'b': 'two'}
    """
    cookies: dict[str, str] = {}
    for value in values:
        for pair in value.split(";"):
            name, sep, item = pair.strip().partition("=")
            if sep and name and name not in cookies:
                cookies[name] = item.strip().strip('"')
    return cookies


def same_token(sent: str | None, expected: str | None) -> bool:
    """Whether a CSRF token sent with a request matches the cookie's (in constant time)."""
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


@dataclass(frozen=True, slots=True)
class ForwardedCredentials:
    """The request's headers for the upstream, and whether the cookie supplied the token."""

    headers: list[tuple[bytes, bytes]]
    from_cookie: bool


def _without_session_cookies(value: bytes) -> bytes:
    kept = [pair.strip() for pair in value.split(b";")
            if pair.strip() and pair.strip().partition(b"=")[0].decode("latin-1")
            not in SESSION_COOKIES]
    return b"; ".join(kept)


def cookie_credentials(method: str, headers: list[tuple[bytes, bytes]]) -> ForwardedCredentials:
    """Headers with the access cookie turned into ``Authorization: Bearer`` (see module doc).

    Raises
    ------
    CsrfRejected
        An unsafe method authenticated by the cookie without the matching CSRF header.

    >>> cookie = (b"cookie", b"specimen_access=tok; theme=dark")
    >>> cookie_credentials("GET", [cookie]).headers
    [(b'cookie', b'theme=dark'), (b'authorization', b'Bearer tok')]
    """
    cookie_values = [value for name, value in headers if name == b"cookie"]
    if not cookie_values:
        return ForwardedCredentials(headers, from_cookie=False)
    has_authorization = any(name == b"authorization" for name, _ in headers)
    cookies = parse_cookies(value.decode("latin-1") for value in cookie_values)
    kept: list[tuple[bytes, bytes]] = []
    csrf_sent: str | None = None
    for name, value in headers:
        if name == b"cookie":
            value = _without_session_cookies(value)
            if not value:
                continue
        elif name == _CSRF_HEADER_BYTES:
            csrf_sent = value.decode("latin-1")
        kept.append((name, value))
    token = cookies.get(ACCESS_COOKIE)
    if has_authorization or not token:
        return ForwardedCredentials(kept, from_cookie=False)
    if method not in SAFE_METHODS and not same_token(csrf_sent, cookies.get(CSRF_COOKIE)):
        raise CsrfRejected("This request was made with the session cookie, so it needs the "
                           "page's CSRF token in the X-CSRF-Token header; reload the page.")
    kept.append((b"authorization", b"Bearer " + token.encode("latin-1")))
    return ForwardedCredentials(kept, from_cookie=True)

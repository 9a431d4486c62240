"""The gateway's route table: which service owns a path, and the least role it needs.

The table is data (:data:`ROUTES`); :class:`RouteTable` matches a method and path against it.
A path that some entry matches, with a method none of them allows, is a 405 (with the
``Allow`` list); a path no entry matches is a 404. Every other path stays closed, so a new
upstream endpoint is public through the gateway only once it is listed here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from specimen_kit.errors import MethodNotAllowed, NoRoute
from specimen_kit.roles import Role

USERS = "users"
SEGMENT = "segment"
CLASSIFY = "classify"
UPSTREAMS = (USERS, SEGMENT, CLASSIFY)

_ANY: frozenset[str] | None = None
_WRITE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class RouteRule:
    """One entry: ``methods`` (``None`` = any), a path ``pattern``, the owning ``upstream``
    and the least role (``None`` = public, no token needed).

    Patterns are literal segments, ``{name}`` for exactly one segment, and a trailing ``/**``
    for the bare prefix and everything under it.
    """

    pattern: str
    methods: frozenset[str] | None
    upstream: str
    minimum_role: Role | None

    def allows(self, method: str) -> bool:
        if self.methods is None:
            return True
        # HEAD is a GET without a body; the upstream frameworks answer it the same way.
        return method in self.methods or (method == "HEAD" and "GET" in self.methods)

    @property
    def allowed_methods(self) -> frozenset[str]:
        if self.methods is None:
            return frozenset({"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"})
        return self.methods | ({"HEAD"} if "GET" in self.methods else set())


def _rule(methods: str | None, pattern: str, upstream: str, role: Role | None) -> RouteRule:
    return RouteRule(pattern, None if methods is None else frozenset(methods.split()),
                     upstream, role)


TECH = Role.TECHNICIAN
MOD = Role.MODERATOR
ADMIN = Role.ADMIN

ROUTES: tuple[RouteRule, ...] = (
    _rule("POST", "/api/v1/auth/login", USERS, None),
    _rule("POST", "/api/v1/auth/refresh", USERS, None),
    _rule("POST", "/api/v1/auth/logout", USERS, None),
    _rule("GET", "/.well-known/jwks.json", USERS, None),
    _rule("GET", "/api/v1/auth/me", USERS, TECH),
    _rule("GET POST", "/api/v1/users", USERS, MOD),
    _rule("PUT", "/api/v1/users/me/password", USERS, TECH),
    _rule("GET PATCH", "/api/v1/users/{id}", USERS, TECH),
    _rule("DELETE", "/api/v1/users/{id}", USERS, MOD),
    # Hospitals are never deleted (their ids are never reused), so no DELETE: a 405.
    _rule("GET", "/api/v1/hospitals", USERS, TECH),
    _rule("POST", "/api/v1/hospitals", USERS, ADMIN),
    _rule("GET", "/api/v1/hospitals/{id}", USERS, TECH),
    _rule("PATCH", "/api/v1/hospitals/{id}", USERS, ADMIN),
    _rule(None, "/api/v1/segment/**", SEGMENT, TECH),
    _rule(None, "/api/v1/images/**", SEGMENT, TECH),
    _rule(None, "/api/v1/classify/**", CLASSIFY, TECH),
    _rule(None, "/api/v1/scans/**", CLASSIFY, TECH),
    # Plankton projects (issue 12): any signed-in user; access is by project membership,
    # which classify decides (a project one cannot see is its 404).
    _rule(None, "/api/v1/projects/**", CLASSIFY, TECH),
    _rule(None, "/api/v1/frames/**", CLASSIFY, TECH),
    _rule(None, "/api/v1/objects/**", CLASSIFY, TECH),
    _rule(None, "/api/v1/jobs/**", CLASSIFY, TECH),
    _rule(None, "/api/v1/exports/**", CLASSIFY, TECH),
    _rule("GET", "/api/v1/models/**", CLASSIFY, TECH),
    _rule(" ".join(sorted(_WRITE)), "/api/v1/models/**", CLASSIFY, MOD),
)
"""The public surface of the suite. Internal services verify the token again."""


UPLOAD_ROUTES = (("POST", "/api/v1/projects/{id}/frames"), ("POST", "/api/v1/scans/imports"))
"""The bulk upload routes (classify's, the same list as its own): a non-JSON body there may be
up to SPECIMEN_MAX_UPLOAD_BYTES and is spooled to disk, not held in memory."""


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The regular expression of a table pattern.

    >>> bool(compile_pattern("/api/v1/users/{id}").match("/api/v1/users/7"))
    True
    >>> bool(compile_pattern("/api/v1/images/**").match("/api/v1/images"))
    True
    """
    if not pattern.startswith("/"):
        raise ValueError(f"route pattern {pattern!r} must start with '/'")
    prefix = pattern.endswith("/**")
    body = pattern[:-3] if prefix else pattern
    parts = []
    for segment in body.split("/")[1:]:
        if segment.startswith("{") and segment.endswith("}"):
            parts.append("[^/]+")
        elif "{" in segment or "*" in segment:
            raise ValueError(f"route pattern {pattern!r}: use whole '{{name}}' segments "
                             "and only a trailing '/**'")
        else:
            parts.append(re.escape(segment))
    regex = "/" + "/".join(parts)
    return re.compile(regex + ("(?:/.*)?" if prefix else "") + r"\Z", re.DOTALL)


def _has_dot_segment(path: str) -> bool:
    return any(segment in (".", "..") for segment in path.split("/"))


class RouteTable:
    """Matches ``(method, path)`` against the rules, first match wins."""

    def __init__(self, rules: Iterable[RouteRule] = ROUTES) -> None:
        self.rules = tuple(rules)
        self._compiled = tuple((compile_pattern(rule.pattern), rule) for rule in self.rules)

    def resolve(self, method: str, path: str) -> RouteRule:
        """The rule for this request, or :class:`NoRoute` / :class:`MethodNotAllowed`."""
        # Dot segments would let a path that looks like one service's reach another's
        # endpoints after normalisation somewhere downstream; no real client sends them.
        if "/." in path and _has_dot_segment(path):
            raise NoRoute(f"No route matches {method} {path}")
        allowed: set[str] = set()
        for regex, rule in self._compiled:
            if regex.match(path):
                if rule.allows(method):
                    return rule
                allowed |= rule.allowed_methods
        if allowed:
            raise MethodNotAllowed(f"{method} is not allowed on {path}.", allowed)
        raise NoRoute(f"No route matches {method} {path}")

    def owner(self, path: str) -> str | None:
        """The service that owns ``path`` for any method (used to filter OpenAPI paths)."""
        for regex, rule in self._compiled:
            if regex.match(path):
                return rule.upstream
        return None

"""One rule for the query string on every route: a parameter the route does not declare is a 422.

Without it, a typo (``/images?sort=name`` on a route that cannot sort) was silently ignored on
some routes and refused on others (API.md, *Lists*). A route declares its query parameters the
two ways FastAPI knows:

- in its signature and dependencies (``limit: Limit``, ``Annotated[ListQuery, Query()]``): the
  flattened dependant, Pydantic query models expanded to their fields;
- in ``openapi_extra["parameters"]`` with ``"in": "query"``, for routes that read their
  parameters from the request themselves (the image routes, :func:`specimen_kit.uploads.request_body_doc`).

:func:`reject_unknown_query` compares the request's query keys with those names and refuses the
rest as a validation error, rendered like any other (``errors`` names each one, its message the
names the route accepts). The kit's app factory installs it on every route of every service;
the gateway forwards the query string untouched, so the service that owns the route answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import _get_flat_fields_from_params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute

UNKNOWN_PARAMETER = "extra_forbidden"
"""The ``type`` of each entry in ``errors``: Pydantic's own word for a field it does not know."""

# Worked out once per route and kept on it (routes compare by value, so no dict can hold them).
_CACHE_ATTRIBUTE = "specimen_query_names"


def _documented_query_names(openapi_extra: Mapping[str, Any] | None) -> set[str]:
    parameters = (openapi_extra or {}).get("parameters") or ()
    return {p["name"] for p in parameters if isinstance(p, Mapping) and p.get("in") == "query"}


def _query_params(dependant: Dependant) -> list[Any]:
    """The query parameters of ``dependant`` and of every dependency under it."""
    found, pending = [], [dependant]
    while pending:
        current = pending.pop()
        found.extend(current.query_params)
        pending.extend(current.dependencies)
    return found


def declared_query_names(route: APIRoute) -> frozenset[str]:
    """The query parameter names ``route`` reads: its dependant's (aliases, Pydantic query
    models expanded) and those its ``openapi_extra`` documents."""
    known: frozenset[str] | None = getattr(route, _CACHE_ATTRIBUTE, None)
    if known is None:
        # FastAPI's own flattening (the one its validation uses), so a Pydantic query model
        # counts as its fields, each under its alias.
        fields = _get_flat_fields_from_params(_query_params(route.dependant))
        known = frozenset({field.alias for field in fields}
                          | _documented_query_names(route.openapi_extra))
        setattr(route, _CACHE_ATTRIBUTE, known)
    return known


def unknown_query_errors(keys: list[str], accepted: frozenset[str]) -> list[dict[str, Any]]:
    """One validation error per key outside ``accepted``, in the order the client sent them.

    >>> unknown_query_errors(["limit", "sort"], frozenset({"limit", "offset"}))[0]["msg"]
    'sort is not a parameter of this route; it accepts: limit, offset'
    """
    said = ("it accepts: " + ", ".join(sorted(accepted)) if accepted
            else "it takes no query parameters")
    unknown = dict.fromkeys(key for key in keys if key not in accepted)
    return [{"type": UNKNOWN_PARAMETER, "loc": ("query", key),
             "msg": f"{key} is not a parameter of this route; {said}", "input": None}
            for key in unknown]


async def reject_unknown_query(request: Request) -> None:
    """A dependency for every route: 422 when the query string names a parameter the route
    does not declare."""
    if not request.scope.get("query_string"):
        return
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    errors = unknown_query_errors(list(request.query_params.keys()), declared_query_names(route))
    if errors:
        raise RequestValidationError(errors)

"""One rule for the query string (API.md, *Lists*): a parameter the route does not declare is a
422 naming it, never silently ignored (``/images?sort=`` once returned the unsorted list).

A route that gathers its query in a pydantic model with ``extra="forbid"`` has the rule already;
:func:`reject_unknown_query_parameters` gives it to routes that declare plain parameters, as a
router dependency::

    router = APIRouter(dependencies=[StrictQuery])
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel


def _query_names(dependant: Dependant) -> set[str]:
    names: set[str] = set()
    for field in dependant.query_params:
        annotation = field.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            names.update(info.alias or name for name, info in annotation.model_fields.items())
        else:
            names.add(field.alias)
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def declared_query_parameters(route: APIRoute) -> frozenset[str]:
    """The query parameter names ``route`` and its dependencies declare.

    Walked on each request: routes are not hashable, and the walk is a few short lists.
    """
    return frozenset(_query_names(route.dependant))


def reject_unknown_query_parameters(request: Request) -> None:
    """Raise a validation error (422) naming every query parameter the route does not declare."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = declared_query_parameters(route)
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        known = ", ".join(sorted(declared)) or "none"
        raise RequestValidationError([
            {"type": "extra_forbidden", "loc": ("query", name),
             "msg": f"Unknown query parameter; this route takes: {known}",
             "input": request.query_params.get(name)}
            for name in unknown])


StrictQuery = Depends(reject_unknown_query_parameters)
"""The router dependency that applies :func:`reject_unknown_query_parameters`."""

"""The query-string rule of routes that take no query parameter (API.md, *Lists*: an unknown
query parameter is a 422, everywhere).

FastAPI ignores a query parameter a route does not declare, so ``/models?sort=name`` would
answer as if nothing had been asked. Routes that read their parameters from the query string
refuse unknown ones through their parameter models; the others depend on this.
"""

from __future__ import annotations

from fastapi import Depends, Request

from specimen_imaging.options import Params, validate_params


def _no_query_parameters(request: Request) -> None:
    # Params forbids every name, so each one sent is named in the 422, as on the image routes.
    validate_params(Params, dict(request.query_params))


NoQueryParameters = Depends(_no_query_parameters)
"""``dependencies=[NoQueryParameters]``: any query parameter is a 422 naming it."""

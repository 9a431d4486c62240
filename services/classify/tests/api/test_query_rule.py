"""The kit's one query-string rule, on a classify route."""

from __future__ import annotations

from typing import Any

from specimen_kit.problems import PROBLEM_JSON


async def test_unknown_query_parameter_on_the_model_list_is_422(api: Any) -> None:
    response = await api.http.get("/api/v1/models?colour=red", headers=api.technician)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    [error] = response.json()["errors"]
    assert error["location"] == "query.colour"
    assert error["message"] == (
        "colour is not a parameter of this route; it takes no query parameters")

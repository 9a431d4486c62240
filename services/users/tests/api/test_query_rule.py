"""The kit's one query-string rule, on a users route."""

from __future__ import annotations

from typing import Any

from specimen_kit.problems import PROBLEM_JSON


async def test_unknown_query_parameter_on_the_user_list_is_422(world: Any) -> None:
    response = await world.api.http.get("/api/v1/users?colour=red", headers=world.headers["admin"])
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    assert [e["location"] for e in response.json()["errors"]] == ["query.colour"]

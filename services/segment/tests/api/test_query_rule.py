"""The kit's one query-string rule, on segment's routes (issue 10: ``/images?sort=`` was
silently ignored)."""

from __future__ import annotations

from typing import Any

from specimen_kit.problems import PROBLEM_JSON


async def test_unknown_query_parameter_on_the_library_list_is_422(api: Any) -> None:
    response = await api.http.get("/api/v1/images?colour=red", headers=api.headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM_JSON
    [error] = response.json()["errors"]
    assert error["location"] == "query.colour"
    assert "limit" in error["message"] and "offset" in error["message"]


async def test_algorithm_route_accepts_its_parameters_from_the_query(
        api: Any, make_image: Any) -> None:
    url = "/api/v1/segment/threshold?output=json"
    response = await api.http.post(url, content=make_image("png", (8, 8), "L"),
                                   headers={**api.headers, "content-type": "image/png"})
    assert response.status_code == 200, response.text
    wrong = await api.http.post(url + "&treshold=3", content=make_image("png", (8, 8), "L"),
                                headers={**api.headers, "content-type": "image/png"})
    assert wrong.status_code == 422
    assert [e["location"] for e in wrong.json()["errors"]] == ["query.treshold"]

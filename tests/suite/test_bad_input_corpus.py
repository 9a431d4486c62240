"""Every case of the bad-input corpus (``tests/corpus/bad_inputs.py``) sent to every image route
it applies to, through the gateway (issue 9): a refusal is a 4xx problem+json with a request id,
never a 5xx, and no case may hang. Times are recorded, not asserted, except as a hang guard.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from corpus.bad_inputs import CASES, ROUTES, STRICT, BadInput, Route

from suite_support import PROBLEM_JSON, Actor

pytestmark = pytest.mark.suite

HANG_GUARD_SECONDS = 30.0
"""Not a speed requirement (bench/ measures speed): a case past this has hung."""

PAIRS = [(case, route) for case in CASES for route in ROUTES if route.name in case.routes]


@pytest.fixture(scope="module")
def technician(create_actor: Callable[..., Actor]) -> Actor:
    return create_actor("technician", "Hospital Corpus")


@pytest.fixture(scope="module")
def timings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, float]]:
    """Each case's time, written where a curious reader can find the slow ones."""
    recorded: dict[str, float] = {}
    yield recorded
    slowest = sorted(recorded.items(), key=lambda item: -item[1])[:15]
    report = Path(tmp_path_factory.getbasetemp()) / "bad_input_timings.txt"
    report.write_text("".join(f"{seconds:8.3f}s  {name}\n" for name, seconds in slowest))


def test_the_corpus_covers_at_least_90_kinds_on_every_image_route() -> None:
    assert len(CASES) >= 90
    assert {route.name for _, route in PAIRS} == {route.name for route in ROUTES}


@pytest.mark.parametrize(("case", "route"), PAIRS,
                         ids=[f"{route.name}: {case.name}" for case, route in PAIRS])
def test_a_bad_input_is_refused_with_a_problem(gateway: httpx.Client, technician: Actor,
                                               timings: dict[str, float], case: BadInput,
                                               route: Route) -> None:
    request: dict[str, Any] | None = case.recipe(route)
    if request is None:
        pytest.skip(f"{route.name} has no parameter of this kind")
    headers = {**technician.headers, **request.pop("headers", {})}
    started = time.perf_counter()
    response = gateway.post(route.path, headers=headers, timeout=HANG_GUARD_SECONDS, **request)
    timings[f"{route.name}: {case.name} -> {response.status_code}"] = (
        time.perf_counter() - started)

    assert response.status_code < 500, (response.status_code, response.text[:300])
    if case.expect == STRICT:
        assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM_JSON, response.text[:300]
        problem = response.json()
        assert problem["status"] == response.status_code
        assert problem["detail"] and problem["request_id"], problem


def test_the_services_are_still_ready_afterwards(gateway: httpx.Client) -> None:
    checks = gateway.get("/readyz").json()["checks"]
    assert {checks[name] for name in ("users", "segment", "classify")} == {"ok"}

"""Runs after the other browser tests (pytest takes files in name order; ``tests/suite``'s own
check ran before them): nothing the pages did made a service answer a 500."""

from __future__ import annotations

import httpx
import pytest

from suite_support import RunningSuite

pytestmark = [pytest.mark.suite, pytest.mark.ui]


def test_no_service_answered_500_to_the_pages(running_suite: RunningSuite) -> None:
    for service in ("gateway", "users", "segment", "classify"):
        metrics = httpx.get(running_suite.suite.metrics_url(service)).text
        failures = [line for line in metrics.splitlines() if 'status="500"' in line]
        errors = [line for line in running_suite.log(service).splitlines() if '"error"' in line]
        assert not failures, (service, failures, errors[-3:])

"""Schemathesis walks every documented operation, through the gateway and at each service, with
real tokens (issue 9: "keep the attacker in the build"): no answer may be a server error, and every
status, media type, body and header must be the one the OpenAPI document promises.

Most operations run through schemathesis's own runner (its ``examples``, ``coverage`` and
``fuzzing`` phases: boundary values such as huge offsets come from ``coverage``), with a small
fixed budget per operation and a fixed seed, so the run is the same on every machine and stays
within a few minutes on two cores. ``PATCH``/``DELETE /users/{user_id}`` could delete or lock out
the accounts the other suite tests log in with, so they run in-process instead, each request
aimed at a user made for it whenever the generated id names an existing account.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from suite_support import PASSWORD, Actor, RunningSuite, unique_email

pytestmark = pytest.mark.suite

EXAMPLES = 30
"""Generated requests per operation and phase: the whole module takes about two minutes."""
SEED = 9
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]
CHECK_NAMES = ",".join(check.__name__ for check in CHECKS)
SERVICES = ("users", "segment", "classify")
USER_PATH = "/api/v1/users/{user_id}"
SHIELDED = ("PATCH", "DELETE")
SHIELDED_REGEX = r"^(PATCH|DELETE) /api/v1/users/\{user_id\}$"


def _run_schemathesis(base_url: str, actor: Actor, report: Path) -> list[str]:
    """Run the schemathesis CLI against ``base_url``'s document; the failures it found."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", base_url + "/openapi.json",
        "--header", f"Authorization: Bearer {actor.token}",
        "--checks", CHECK_NAMES, "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(EXAMPLES), "--seed", str(SEED), "--generation-deterministic",
        # One worker: with two threads, hypothesis's strategy descriptions (ast.parse of
        # lambda sources) crashed CPython 3.11 ("AST constructor recursion depth mismatch").
        "--no-shrink", "--workers", "1",
        "--request-timeout", "30", "--continue-on-failure", "--no-color",
        "--exclude-name-regex", SHIELDED_REGEX,
        "--report", "ndjson", "--report-ndjson-path", str(report),
    ]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    failures = _failures(report) if report.exists() else []
    if completed.returncode != 0 and not failures:
        pytest.fail(f"schemathesis did not run:\n{completed.stdout[-3000:]}{completed.stderr}")
    return failures


def _failures(report: Path) -> list[str]:
    """One line per distinct (operation, check, status) failure in the CLI's ndjson events,
    with the first request that showed it."""
    found: dict[tuple[str, str, int], str] = {}
    for line in report.read_text().splitlines():
        scenario = json.loads(line).get("ScenarioFinished")
        if not scenario:
            continue
        recorder = scenario["recorder"]
        for case_id, checks in (recorder.get("checks") or {}).items():
            interaction = (recorder.get("interactions") or {}).get(case_id) or {}
            request, response = interaction.get("request", {}), interaction.get("response") or {}
            status = int(response.get("status_code", 0))
            for check in checks:
                if check["status"] != "failure":
                    continue
                failure = check["failure_info"]["failure"]
                key = (str(failure["operation"]), str(failure["title"]), status)
                found.setdefault(key, f"{key[0]}: {key[1]} ({status}); e.g. {request.get('method')} "
                                      f"{request.get('uri')} {_body(request):.160}")
    return sorted(found.values())


def _body(request: dict[str, Any]) -> str:
    encoded = (request.get("body") or {}).get("$base64")
    return repr(base64.b64decode(encoded)) if encoded else ""


class Accounts:
    """Keeps the generated requests off the accounts other suite tests log in with."""

    def __init__(self, gateway: httpx.Client, admin: Actor) -> None:
        self._gateway = gateway
        self._admin = admin
        listed = gateway.get("/api/v1/users", params={"limit": 200}, headers=admin.headers)
        assert listed.status_code == 200, listed.text
        self.protected_max_id = max(user["id"] for user in listed.json()["items"])

    def throwaway(self) -> int:
        response = self._gateway.post("/api/v1/users", headers=self._admin.headers, json={
            "email": unique_email("schemathesis"), "full_name": "Throwaway", "role": "technician",
            "hospital": self._admin.hospital, "password": PASSWORD,
        })
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    def shield(self, case: Any) -> None:
        """Aim a PATCH or DELETE of an existing account at a throwaway user instead."""
        target = case.path_parameters.get("user_id")
        if isinstance(target, int) and not isinstance(target, bool) and (
                1 <= target <= self.protected_max_id):
            case.path_parameters["user_id"] = self.throwaway()


def _run_mutations(base_url: str, actor: Actor, accounts: Accounts) -> list[str]:
    """``PATCH``/``DELETE /users/{user_id}``, valid and invalid data, shielded; the failures."""
    schema = schemathesis.openapi.from_url(base_url + "/openapi.json")
    failures: set[str] = set()
    for method in SHIELDED:
        operation = schema[USER_PATH][method]
        cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE))

        @settings(max_examples=2 * EXAMPLES, derandomize=True, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        @given(case=cases)
        def send(case: Any) -> None:
            accounts.shield(case)
            try:
                case.call_and_validate(headers=actor.headers, checks=CHECKS, timeout=30)
            except (Failure, FailureGroup) as error:  # every failure, not just the first
                for failure in getattr(error, "exceptions", (error,)):
                    failures.add(f"{case.method} {USER_PATH}: {failure.title}: "
                                 f"{failure.message.splitlines()[0] if failure.message else ''}"
                                 f" (user_id={case.path_parameters['user_id']!r}, "
                                 f"body={getattr(case, 'body', None)!r:.120})")

        send()
    return sorted(failures)


@pytest.fixture(scope="module")
def accounts(gateway: httpx.Client, admin: Actor) -> Accounts:
    return Accounts(gateway, admin)


@pytest.fixture(scope="module")
def technician(create_actor: Callable[..., Actor]) -> Actor:
    return create_actor("technician", "Hospital Fuzz")


class TestThroughTheGateway:
    @pytest.mark.parametrize("who", ["admin", "technician"])
    def test_every_operation_conforms(self, running_suite: RunningSuite, admin: Actor,
                                      technician: Actor, tmp_path: Path, who: str) -> None:
        actor = admin if who == "admin" else technician
        failures = _run_schemathesis(running_suite.gateway, actor, tmp_path / "events.ndjson")
        assert not failures, "\n".join(failures)

    def test_changing_and_deleting_users_conforms(self, running_suite: RunningSuite,
                                                  admin: Actor, accounts: Accounts) -> None:
        failures = _run_mutations(running_suite.gateway, admin, accounts)
        assert not failures, "\n".join(failures)


class TestAtEachService:
    @pytest.mark.parametrize("service", SERVICES)
    def test_every_operation_conforms(self, running_suite: RunningSuite, admin: Actor,
                                      tmp_path: Path, service: str) -> None:
        failures = _run_schemathesis(running_suite.suite.url(service), admin,
                                     tmp_path / "events.ndjson")
        assert not failures, "\n".join(failures)

    def test_changing_and_deleting_users_conforms(self, running_suite: RunningSuite,
                                                  admin: Actor, accounts: Accounts) -> None:
        failures = _run_mutations(running_suite.suite.url("users"), admin, accounts)
        assert not failures, "\n".join(failures)

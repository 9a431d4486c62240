"""Issue 9, findings 4 and 5 across real processes: who the client is, and who gets throttled.

Extra gateways are started the way ``make run`` starts one (``local_suite.UVICORN_ARGS``), in
front of the running suite's services: one trusting no proxy with a small rate limit, one
trusting loopback as an ingress would be trusted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from local_suite import FACTORIES, UVICORN_ARGS
from specimen_kit.launch import ServiceProcess, free_port
from suite_support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Actor, RunningSuite

LOGIN = "/api/v1/auth/login"


def _gateway(running_suite: RunningSuite, label: str, **env: str) -> ServiceProcess:
    suite = running_suite.suite
    process = ServiceProcess(f"gateway-{label}", FACTORIES["gateway"], free_port(),
                             env={**suite.environment(), **env},
                             log_path=suite.log_dir / f"gateway-{label}.log",
                             extra_args=UVICORN_ARGS.get("gateway", ()))
    process.start()
    return process


@pytest.fixture(scope="module")
def gateways(running_suite: RunningSuite) -> Iterator[dict[str, httpx.Client]]:
    processes = {
        # Counting in its own memory: in the suite's Redis, the main gateway's requests from
        # 127.0.0.1 would share this one's counter (replicas share limits by design).
        "untrusting": _gateway(running_suite, "untrusting", SPECIMEN_GATEWAY_RATE_LIMIT="3/minute",
                               SPECIMEN_TRUSTED_PROXIES="", SPECIMEN_REDIS_URL=""),
        "behind-ingress": _gateway(running_suite, "behind-ingress",
                                   SPECIMEN_TRUSTED_PROXIES="127.0.0.0/8"),
    }
    try:
        for process in processes.values():
            process.wait_ready()
        clients = {name: httpx.Client(base_url=process.url, timeout=30.0)
                   for name, process in processes.items()}
        yield clients
        for client in clients.values():
            client.close()
    finally:
        for process in processes.values():
            process.stop()


def _login(client: httpx.Client, email: str, password: str, address: str) -> httpx.Response:
    return client.post(LOGIN, json={"email": email, "password": password},
                       headers={"X-Forwarded-For": address})


class TestForgedForwardedFor:
    def test_rotating_it_does_not_escape_the_gateway_rate_limit(
            self, gateways: dict[str, httpx.Client]) -> None:
        statuses = [gateways["untrusting"].get("/.well-known/jwks.json",
                                               headers={"X-Forwarded-For": f"203.0.113.{n}"})
                    .status_code for n in range(4)]
        assert statuses == [200, 200, 200, 429]

    def test_rotating_it_does_not_escape_the_login_throttle(
            self, gateway: httpx.Client, create_actor: Callable[..., Actor]) -> None:
        actor = create_actor("technician", "Hospital A", log_in=False)
        statuses = [_login(gateway, actor.email, "wrong password", f"203.0.113.{n}").status_code
                    for n in range(5)]
        assert statuses == [401] * 4 + [429]


class TestBehindATrustedProxy:
    def test_a_stranger_failing_does_not_lock_the_owner_out(
            self, gateways: dict[str, httpx.Client], create_actor: Callable[..., Actor]) -> None:
        # The reproduction: wrong passwords from A, then the right one from B.
        client = gateways["behind-ingress"]
        actor = create_actor("moderator", "Hospital A", log_in=False)
        statuses = [_login(client, actor.email, "wrong password", "203.0.113.66").status_code
                    for _ in range(6)]
        assert statuses == [401] * 4 + [429] * 2
        owner = _login(client, actor.email, PASSWORD, "198.51.100.7")
        assert owner.status_code == 200, owner.text
        assert owner.json()["access_token"]

    def test_the_admin_cannot_be_locked_out_by_a_stranger(
            self, gateways: dict[str, httpx.Client]) -> None:
        client = gateways["behind-ingress"]
        for _ in range(8):
            _login(client, ADMIN_EMAIL, "a guess", "203.0.113.99")
        assert _login(client, ADMIN_EMAIL, ADMIN_PASSWORD, "203.0.113.99").status_code == 429
        assert _login(client, ADMIN_EMAIL, ADMIN_PASSWORD, "198.51.100.8").status_code == 200

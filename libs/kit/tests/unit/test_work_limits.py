"""Work whose client has gone is stopped, through a real uvicorn process (issue 9, finding 7)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

HERE = Path(__file__).parent
# The metrics address of each running slow service, by its base URL.
METRICS: dict[str, str] = {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stopped(base: str, reason: str) -> float:
    text = httpx.get(METRICS[base]).text
    labels = rf'(?=[^}}]*service="slow")(?=[^}}]*reason="{reason}")[^}}]*'
    found = re.search(rf"^specimen_work_stopped_total\{{{labels}\}} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.fixture(scope="module")
def slow_service() -> Iterator[str]:
    port, metrics_port = _free_port(), _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "slow_work_app:create_app", "--app-dir", str(HERE),
         "--port", str(port), "--log-level", "warning"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "SPECIMEN_METRICS_PORT": str(metrics_port),
             "SPECIMEN_METRICS_HOST": "127.0.0.1"},
    )
    base = f"http://127.0.0.1:{port}"
    METRICS[base] = f"http://127.0.0.1:{metrics_port}/metrics"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def test_a_client_that_goes_away_stops_its_work_and_the_service_serves_on(slow_service: str) -> None:
    before = _stopped(slow_service, "client_gone")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{slow_service}/work", json={}, timeout=httpx.Timeout(5, read=0.5))
    # The connection is closed now; the work notices at its next step.
    for _ in range(500):
        if _stopped(slow_service, "client_gone") > before:
            break
        time.sleep(0.01)
    assert _stopped(slow_service, "client_gone") == before + 1
    assert httpx.get(f"{slow_service}/healthz").status_code == 200


def test_the_callers_deadline_header_stops_the_work_with_a_503(slow_service: str) -> None:
    before = _stopped(slow_service, "deadline")
    response = httpx.post(f"{slow_service}/work", json={}, headers={"X-Request-Deadline": "0.2"}, timeout=10)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["Retry-After"]
    assert response.json()["request_id"]
    assert _stopped(slow_service, "deadline") == before + 1

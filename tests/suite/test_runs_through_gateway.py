"""A plankton run end to end through the gateway: a project and its frames made over HTTP, the
run posted (202 + Location), watched to its end while the suite's classify worker (a real RQ
worker process, on the suite's PostgreSQL and Redis) runs it, and its objects read back."""

from __future__ import annotations

import time
from collections.abc import Callable

import cv2
import httpx
import numpy as np
import pytest

from specimen_classify.domain.synthetic_plankton import CATEGORIES, plankton_frame
from suite_support import Actor

pytestmark = pytest.mark.suite


def _png(pixels: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", pixels)
    assert ok
    return bytes(data.tobytes())


def test_a_run_goes_through_the_gateway_to_the_worker_and_back(
        gateway: httpx.Client, create_actor: Callable[..., Actor]) -> None:
    owner = create_actor("technician", "Station Runs")
    outsider = create_actor("technician", "Station Elsewhere")
    project = gateway.post("/api/v1/projects", headers=owner.headers, json={"name": "cruise runs"})
    assert project.status_code == 201, project.text
    project_id = project.json()["id"]
    for i in range(3):  # one frame a request: the suite's body limit is 64 KiB
        frame = _png(plankton_frame((9, i), dict.fromkeys(CATEGORIES, 1), 256, 256).image)
        uploaded = gateway.post(f"/api/v1/projects/{project_id}/frames", headers=owner.headers,
                                files=[("image", (f"frame{i}.png", frame, "image/png"))])
        assert uploaded.status_code == 201, uploaded.text

    started = gateway.post(f"/api/v1/projects/{project_id}/runs", headers=owner.headers,
                           json={"padding": 4, "fade_background": 1})
    assert started.status_code == 202, started.text
    location = started.headers["location"]
    assert location == f"/api/v1/jobs/{started.json()['id']}"

    deadline = time.monotonic() + 180
    job = started.json()
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        answer = gateway.get(location, headers=owner.headers)
        assert answer.status_code == 200, answer.text
        job = answer.json()
    assert job["status"] == "succeeded", job
    assert job["progress"]["done"] == 3 and job["progress"]["failed"] == 0
    assert job["progress"]["objects"] > 0

    objects = gateway.get(f"/api/v1/projects/{project_id}/objects", headers=owner.headers,
                          params={"limit": 500})
    assert objects.status_code == 200, objects.text
    assert objects.json()["total"] == job["progress"]["objects"]
    first = objects.json()["items"][0]["id"]
    crop = gateway.get(f"/api/v1/objects/{first}/crop.png", headers=owner.headers)
    assert crop.status_code == 200 and crop.content.startswith(b"\x89PNG")

    assert gateway.get(location, headers=outsider.headers).status_code == 404
    runs = gateway.get(f"/api/v1/projects/{project_id}/runs", headers=owner.headers)
    assert runs.status_code == 200 and runs.json()["items"][0]["id"] == job["id"]

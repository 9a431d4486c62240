"""The bulk upload routes (``POST /projects/{id}/frames``, ``POST /scans/imports``) take bodies
up to SPECIMEN_MAX_UPLOAD_BYTES through the gateway, spooled to a temporary file rather than
held in memory; every other route (and JSON anywhere) keeps SPECIMEN_MAX_BODY_BYTES.

Before: a cruise's ZIP over 4 MiB was a 413 at the gateway, and every body was read whole
into memory (charged whole against SPECIMEN_GATEWAY_MAX_BUFFERED_BYTES).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator

import httpx

Gateway = Callable[..., httpx.Client]
MIB = 1024 * 1024
FRAMES = "/api/v1/projects/7/frames"


def _parts(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start:start + size]


def test_a_big_upload_reaches_classify_whole_beyond_the_memory_budget(
    gateway: Gateway, token_for: Callable[..., str]
) -> None:
    # 12 MiB through a gateway that may hold 2 MiB of bodies at once and takes 1 MiB elsewhere.
    client = gateway(max_body_bytes=MIB, max_upload_bytes=64 * MIB,
                     max_buffered_body_bytes=2 * MIB)
    headers = {"Authorization": f"Bearer {token_for()}", "Content-Type": "application/zip"}
    body = os.urandom(12 * MIB)
    for content in (body, _parts(body)):  # declared length, then chunked
        response = client.post(FRAMES, content=content, headers=headers)
        assert response.status_code == 200, response.text
        echo = response.json()
        assert (echo["service"], echo["path"]) == ("classify", FRAMES)
        assert echo["body_length"] == len(body)
        assert echo["body_sha256"] == hashlib.sha256(body).hexdigest()
    scans = client.post("/api/v1/scans/imports", content=body, headers=headers)
    assert scans.status_code == 200 and scans.json()["body_length"] == len(body)


def test_other_routes_and_json_keep_the_small_limit(
    gateway: Gateway, token_for: Callable[..., str]
) -> None:
    client = gateway(max_body_bytes=MIB, max_upload_bytes=64 * MIB)
    token = f"Bearer {token_for()}"
    big = b"x" * (MIB + 1)
    for path, media_type in ((FRAMES, "application/json"), ("/api/v1/projects/7", "application/zip"),
                             ("/api/v1/segment/otsu", "image/png"),
                             ("/api/v1/projects/7/frames/x", "application/zip")):
        response = client.post(path, content=big, headers={"Authorization": token,
                                                           "Content-Type": media_type})
        assert response.status_code == 413, path
        problem = response.json()
        assert (problem["max_bytes"], problem["limit_setting"]) == (MIB, "SPECIMEN_MAX_BODY_BYTES")


def test_past_the_upload_limit_is_a_413_naming_it(
    gateway: Gateway, token_for: Callable[..., str]
) -> None:
    client = gateway(max_body_bytes=MIB, max_upload_bytes=4 * MIB)
    headers = {"Authorization": f"Bearer {token_for()}", "Content-Type": "application/zip"}
    for content in (b"x" * (4 * MIB + 1), _parts(b"x" * (4 * MIB + 1))):
        response = client.post(FRAMES, content=content, headers=headers)
        assert response.status_code == 413
        problem = response.json()
        assert problem["max_bytes"] == 4 * MIB
        assert problem["limit_setting"] == "SPECIMEN_MAX_UPLOAD_BYTES"
        assert "SPECIMEN_MAX_UPLOAD_BYTES" in problem["detail"]
    assert client.get("/healthz").status_code == 200

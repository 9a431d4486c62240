"""The bulk upload routes (``POST /projects/{id}/frames``, ``POST /scans/imports``) take bodies
up to SPECIMEN_MAX_UPLOAD_BYTES through the gateway, spooled to a temporary file rather than
held in memory; every other route (and JSON anywhere) keeps SPECIMEN_MAX_BODY_BYTES.

Before: a cruise's ZIP over 4 MiB was a 413 at the gateway, and every body was read whole
into memory (charged whole against SPECIMEN_GATEWAY_MAX_BUFFERED_BYTES).
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
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


def test_spooled_uploads_past_the_disk_budget_are_a_503(
    gateway: Gateway, token_for: Callable[..., str]
) -> None:
    # Spooled uploads are bounded on disk as buffered bodies are in memory: an upload held open
    # (declared 4 MiB, a few bytes sent) leaves no room for another under a 5 MiB budget.
    client = gateway(max_body_bytes=MIB, max_upload_bytes=64 * MIB,
                     max_spooled_body_bytes=5 * MIB)
    token = token_for()
    host, port = client.base_url.host, client.base_url.port or 80
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/zip"}
    with socket.create_connection((host, port), timeout=10) as held:
        held.sendall((f"POST {FRAMES} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}"
                      f"\r\nContent-Type: application/zip\r\nContent-Length: {4 * MIB}\r\n\r\n"
                      ).encode() + b"PK" * 50)
        for _ in range(50):
            response = client.post(FRAMES, content=b"x" * (2 * MIB), headers=headers)
            if response.status_code == 503:
                break
            time.sleep(0.05)
        assert response.status_code == 503
        assert response.json()["type"].endswith("/gateway-buffers-full")
        assert response.headers["retry-after"] == "1"
    for _ in range(50):  # the held upload's room comes back once its client is gone
        response = client.post(FRAMES, content=b"x" * (2 * MIB), headers=headers)
        if response.status_code == 200:
            break
        time.sleep(0.05)
    assert response.status_code == 200

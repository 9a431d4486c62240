"""The bulk frame upload takes bodies past SPECIMEN_MAX_BODY_BYTES, up to
SPECIMEN_MAX_UPLOAD_BYTES, streamed to disk; every other route keeps the small limit.

Before: a cruise's ZIP over 4 MiB was a 413 on ``POST /projects/{id}/frames``, and a raw ZIP body
was read whole into memory (``request.body()``), so its size was the process's memory.
"""

from __future__ import annotations

import tracemalloc
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import ProjectsApi

API = "/api/v1"
OWNER = 10
MIB = 1024 * 1024
SMALL = 2 * MIB
BIG_MEMBER = 40 * MIB


@pytest.fixture
def upload_api(upload_limits_api: ProjectsApi) -> ProjectsApi:
    """2 MiB body limit, 64 MiB upload limit, 8 MiB frames (conftest)."""
    return upload_limits_api


def _big_zip(path: Path, frame: bytes) -> int:
    """A ZIP of one frame and a 40 MiB stored member (rejected by the member limit, unread)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("frame1.png", frame)
        with archive.open("huge.png", "w", force_zip64=True) as member:
            block = b"\0" * MIB
            for _ in range(BIG_MEMBER // MIB):
                member.write(block)
    return path.stat().st_size


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(256 * 1024):
            yield chunk


async def test_a_big_raw_zip_is_streamed_not_held(upload_api: ProjectsApi, tmp_path: Path) -> None:
    client = upload_api
    project = await client.project(OWNER, {})
    archive = tmp_path / "cruise.zip"
    size = _big_zip(archive, client.png())
    assert size > 10 * SMALL
    tracemalloc.start()
    try:
        response = await client.http.post(
            f"{API}/projects/{project['id']}/frames", content=_chunks(archive),
            headers={**client.as_user(OWNER), "Content-Type": "application/zip",
                     "Content-Length": str(size)})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 201, response.text
    report = response.json()
    assert [f["file_name"] for f in report["imported"]] == ["frame1.png"]
    assert [r["file_name"] for r in report["rejected"]] == ["huge.png"]
    # Held whole, the body alone was 40 MiB (twice over while joined).
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB for a {size / MIB:.0f} MiB body"


async def test_a_big_multipart_zip_is_taken(upload_api: ProjectsApi, tmp_path: Path) -> None:
    client = upload_api
    project = await client.project(OWNER, {})
    archive = tmp_path / "cruise.zip"
    _big_zip(archive, client.png())
    report = await client.upload(project["id"], [("image", ("cruise.zip", archive.read_bytes()))])
    assert len(report["imported"]) == 1


async def test_past_the_upload_limit_is_a_413_naming_it(upload_api: ProjectsApi) -> None:
    client = upload_api
    project = await client.project(OWNER, {})
    response = await client.http.post(
        f"{API}/projects/{project['id']}/frames", content=b"PK\x03\x04" + b"\0" * 16,
        headers={**client.as_user(OWNER), "Content-Type": "application/zip",
                 "Content-Length": str(64 * MIB + 1)})
    assert response.status_code == 413
    body = response.json()
    assert body["max_bytes"] == 64 * MIB and body["limit_setting"] == "SPECIMEN_MAX_UPLOAD_BYTES"
    assert "SPECIMEN_MAX_UPLOAD_BYTES" in body["detail"]


async def test_other_routes_and_json_keep_the_small_limit(upload_api: ProjectsApi) -> None:
    client = upload_api
    project = await client.project(OWNER, {})
    big = b"x" * (SMALL + 1)
    for path, content_type in ((f"projects/{project['id']}/frames", "application/json"),
                               (f"projects/{project['id']}/exports", "application/zip"),
                               ("classify/plankton", "image/png")):
        response = await client.http.post(f"{API}/{path}", content=big,
                                          headers={**client.as_user(OWNER),
                                                   "Content-Type": content_type})
        assert response.status_code == 413, path
        assert response.json()["limit_setting"] == "SPECIMEN_MAX_BODY_BYTES", path
        assert response.json()["max_bytes"] == SMALL

"""A record whose stored file is gone from the blob store answers 410 ``blob-missing`` on every
route that serves the file (frame image and tiles, crop, mask, scan image), never a 500.

Before the fix ``BlobMissing`` was a bare ``LookupError``: each of these routes answered 500.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from specimen_kit.blobs import FilesystemBlobStore

if TYPE_CHECKING:
    from conftest import ProjectsApi

API = "/api/v1"
OWNER = 10


def _remove_all_blobs(root: Path) -> int:
    store = FilesystemBlobStore(root)
    keys = list(store.keys())
    for key in keys:
        store.delete(key)
    return len(keys)


def _assert_gone(response: Any) -> None:
    assert response.status_code == 410, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["type"].endswith("/blob-missing")
    assert "blob" in body["detail"] and len(body["key"]) == 32
    assert "/" not in body["detail"].split("blob store")[0].replace("(blob ", "")  # no disk path


async def test_frame_image_tile_crop_and_mask_answer_410(projects_api: ProjectsApi) -> None:
    client = projects_api
    project = await client.project(OWNER, {})
    frames = await client.upload(project["id"], [("image", ("a.png", client.png()))])
    frame_id = frames["imported"][0]["id"]
    # A mask blob, as objects stored before migration 0008 have (a run's mask is in its row).
    [object_id] = client.add_objects(frame_id, [client.new_object(1)], mask_blobs=True)
    headers = client.as_user(OWNER)
    assert (await client.http.get(f"{API}/frames/{frame_id}/image", headers=headers)
            ).status_code == 200
    assert _remove_all_blobs(client.blob_dir) == 3
    for path in (f"frames/{frame_id}/image", f"frames/{frame_id}/image?output=jpeg",
                 f"frames/{frame_id}/tiles/0/0/0.png", f"objects/{object_id}/crop.png",
                 f"objects/{object_id}/mask.png"):
        _assert_gone(await client.http.get(f"{API}/{path}", headers=headers))
    # The records themselves still read, and the frame can still be deleted.
    assert (await client.http.get(f"{API}/objects/{object_id}", headers=headers)
            ).status_code == 200
    assert (await client.http.delete(f"{API}/frames/{frame_id}", headers=headers)
            ).status_code == 204


async def test_scan_image_answers_410(api: Any, tmp_path: Path) -> None:
    scan = await api.create()
    assert _remove_all_blobs(tmp_path / "classify-blobs") >= 1
    _assert_gone(await api.http.get(f"{API}/scans/{scan['id']}/image", headers=api.technician))
    _assert_gone(await api.http.get(f"{API}/scans/{scan['id']}/image?output=png",
                                    headers=api.technician))

"""Frames of plankton projects: bulk uploads (image parts, ZIPs, metadata), the ZIP edge cases,
frames listed, fetched, converted, tiled and deleted; on SQLite and PostgreSQL."""

from __future__ import annotations

import zipfile
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
import pytest

from specimen_kit.blobs import FilesystemBlobStore

if TYPE_CHECKING:
    from conftest import ProjectsApi

API = "/api/v1"
OWNER, MANAGER, ANNOTATOR, VIEWER, STRANGER, ADMIN = 10, 11, 12, 13, 14, 1
MEMBERS = {MANAGER: "manager", ANNOTATOR: "annotator", VIEWER: "viewer"}


@pytest.fixture
def client(projects_api: ProjectsApi) -> ProjectsApi:
    return projects_api


def reasons(body: dict[str, Any]) -> dict[str, str]:
    return {r["file_name"]: r["reason"] for r in body["rejected"]}


class TestImageParts:
    async def test_many_parts_with_form_metadata(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        body = await client.upload(
            project["id"],
            [("image", ("f1.png", client.png(seed=1))), ("image", ("f2.png", client.png(seed=2)))],
            data={"sample_id": "st1", "acq_id": "a1", "lat": "43.68", "lon": "7.31",
                  "date": "2026-05-04", "time": "10:30", "depth_min": "0", "depth_max": "50"})
        assert body["imported_count"] == 2 and body["rejected"] == []
        first = body["imported"][0]
        assert (first["file_name"], first["width"], first["height"]) == ("f1.png", 60, 40)
        assert first["media_type"] == "image/png" and first["sample_id"] == "st1"
        assert (first["latitude"], first["longitude"]) == (43.68, 7.31)
        assert (first["depth_min"], first["depth_max"]) == (0.0, 50.0)
        assert first["taken_at"] == "2026-05-04T10:30:00.000Z"
        assert first["tiles"] == {"size": 256, "max_zoom": 0,
                                  "url": f"{API}/frames/{first['id']}/tiles/{{z}}/{{x}}/{{y}}.png"}

    async def test_not_an_image_is_rejected_the_others_imported(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        body = await client.upload(project["id"], [
            ("image", ("ok.png", client.png())), ("image", ("notes.png", b"just text")),
            ("image", ("cut.png", client.png()[:60])), ("image", ("../up.png", client.png()))])
        assert [f["file_name"] for f in body["imported"]] == ["ok.png"]
        found = reasons(body)
        assert "not an image" in found["notes.png"]
        assert "truncated or corrupt" in found["cut.png"]
        assert "plain base name" in found["../up.png"]

    async def test_nothing_imported_is_a_422_with_the_reasons(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        response = await client.http.post(
            f"{API}/projects/{project['id']}/frames",
            files=[("image", ("a.txt", b"hello"))], headers=client.as_user(OWNER))
        assert response.status_code == 422
        problem = response.json()
        assert problem["type"].endswith("/no-frames-imported")
        assert problem["rejected"][0]["file_name"] == "a.txt"

    async def test_duplicates_in_the_upload_and_in_the_project(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        await client.upload(project["id"], [("image", ("f.png", client.png()))])
        body = await client.upload(project["id"], [
            ("image", ("f.png", client.png(seed=3))), ("image", ("g.png", client.png(seed=4))),
            ("image", ("g.png", client.png(seed=5)))])
        assert [f["file_name"] for f in body["imported"]] == ["g.png"]
        assert [r["reason"].split(":")[0] for r in body["rejected"]] == ["duplicate", "duplicate"]

    async def test_parts_past_the_parser_bound_name_the_limit(self, client: ProjectsApi) -> None:
        # Before: Starlette's bare 400 "Maximum number of files is 1020" (its bound, not the 1000
        # SPECIMEN_CLASSIFY_FRAMES_MAX_FILES documents).
        project = await client.project(OWNER, MEMBERS)
        response = await client.http.post(
            f"{API}/projects/{project['id']}/frames",
            files=[("image", (f"f{i}.png", b"x")) for i in range(1100)], headers=client.as_user(OWNER))
        assert response.status_code == 422
        problem = response.json()
        assert problem["type"].endswith("/invalid-parameter")
        assert "more than 1000 files" in problem["detail"] and "1020" not in problem["detail"]

    async def test_bad_form_metadata_refuses_the_request(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        for data in ({"lat": "95"}, {"date": "yesterday"}, {"time": "10:00"},
                     {"depth_min": "30", "depth_max": "10"}, {"colour": "red"}):
            response = await client.http.post(
                f"{API}/projects/{project['id']}/frames", files=[("image", ("f.png", client.png()))],
                data=data, headers=client.as_user(OWNER))
            assert response.status_code == 422, data
        listed = await client.http.get(f"{API}/projects/{project['id']}/frames",
                                       headers=client.as_user(OWNER))
        assert listed.json()["total"] == 0

    async def test_a_raw_image_body_is_one_frame(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        response = await client.http.post(f"{API}/projects/{project['id']}/frames",
                                          content=client.png(), headers={**client.as_user(OWNER),
                                                                  "Content-Type": "image/png"})
        assert response.status_code == 201
        assert response.json()["imported"][0]["file_name"].endswith(".png")


class TestZipUploads:
    async def test_zip_with_a_metadata_table_beside_the_images(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        table = (b"file_name,sample_id,lat,lon,date,time,depth_min,depth_max\n"
                 b"a.png,s1,43.1,7.2,20260504,103000,0,10\n"
                 b"b.png,s2,,,2026-05-05,,5,20\n"
                 b"ghost.png,s3,1,1,,,,\n")
        archive = client.zip_of({"frames/a.png": client.png(seed=1), "frames/b.png": client.png(seed=2),
                          "frames/meta.csv": table, "__MACOSX/._a.png": b"junk",
                          "frames/": b""}, zipfile.ZIP_DEFLATED)
        body = await client.upload(project["id"], [("image", ("cruise.zip", archive))],
                                   data={"acq_id": "run-1"})
        frames = {f["file_name"]: f for f in body["imported"]}
        assert sorted(frames) == ["a.png", "b.png"] and body["rejected"] == []
        assert frames["a.png"]["sample_id"] == "s1" and frames["a.png"]["acq_id"] == "run-1"
        assert frames["a.png"]["taken_at"] == "2026-05-04T10:30:00.000Z"
        assert frames["b.png"]["latitude"] is None and frames["b.png"]["depth_max"] == 20.0
        assert frames["b.png"]["taken_at"] == "2026-05-05T00:00:00.000Z"
        assert body["unmatched_metadata"] == ["ghost.png"]
        listed = await client.http.get(f"{API}/projects/{project['id']}/frames",
                                       params={"sample_id": "s2"}, headers=client.as_user(VIEWER))
        assert [f["file_name"] for f in listed.json()["items"]] == ["b.png"]

    async def test_a_metadata_part_and_a_tsv(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        tsv = b"img_file_name\tsample_id\tdatetime\nx.png\tdeep\t2026-01-02T03:04:05+01:00\n"
        body = await client.upload(project["id"], [("image", ("x.png", client.png())),
                                                   ("metadata", ("meta.tsv", tsv))])
        frame = body["imported"][0]
        assert frame["sample_id"] == "deep" and frame["taken_at"] == "2026-01-02T02:04:05.000Z"

    async def test_a_bad_metadata_row_rejects_its_frame_only(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        table = b"file_name,lat\na.png,123\nb.png,45\n"
        body = await client.upload(project["id"], [("image", ("a.png", client.png(seed=1))),
                                                   ("image", ("b.png", client.png(seed=2))),
                                                   ("metadata", ("m.csv", table))])
        assert [f["file_name"] for f in body["imported"]] == ["b.png"]
        assert "latitude" in reasons(body)["a.png"]

    async def test_an_unusable_table_refuses_the_request(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        for table in (b"name,sample_id\na.png,s\n", b"file_name,colour\na.png,red\n",
                      "file_name\nä.png\n".encode("latin-1")):
            response = await client.http.post(
                f"{API}/projects/{project['id']}/frames",
                files=[("image", ("a.png", client.png())), ("metadata", ("m.csv", table))],
                headers=client.as_user(OWNER))
            assert response.status_code == 422, table
            assert response.json()["type"].endswith("/invalid-frame-metadata")

    async def test_unsafe_duplicate_and_non_image_members(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        archive = client.zip_of({"a/f.png": client.png(seed=1), "b/f.png": client.png(seed=2),
                          "../escape.png": client.png(seed=3), "/abs.png": client.png(seed=4),
                          "c:/win.png": client.png(seed=5), "readme.txt": b"hello",
                          "ok.png": client.png(seed=6)})
        body = await client.upload(project["id"], [("archive", ("mixed.zip", archive))])
        assert sorted(f["file_name"] for f in body["imported"]) == ["f.png", "ok.png"]
        found = reasons(body)
        assert found["f.png"].startswith("duplicate")
        for name in ("../escape.png", "/abs.png", "c:/win.png"):
            assert "unsafe path" in found[name], name
        assert "not an image" in found["readme.txt"]
        assert all(r["source"] == "mixed.zip" for r in body["rejected"])

    async def test_a_zip_bomb_member_is_rejected(self, small_limits_api: ProjectsApi) -> None:
        client = small_limits_api
        project = await client.project(OWNER, MEMBERS)
        archive = client.zip_of({"bomb.png": b"\0" * 40_000, "ok.png": client.png()}, zipfile.ZIP_DEFLATED)
        body = await client.upload(project["id"], [("image", ("b.zip", archive))])
        assert [f["file_name"] for f in body["imported"]] == ["ok.png"]
        assert "zip bomb" in reasons(body)["bomb.png"]

    async def test_a_member_over_the_size_limit_is_rejected(self, small_limits_api: ProjectsApi) -> None:
        client = small_limits_api
        project = await client.project(OWNER, MEMBERS)
        big = client.png(300, 300)  # noise: ~90 kB, over the 50 kB limit, incompressible
        body = await client.upload(project["id"], [("image", ("s.zip", client.zip_of(
            {"big.png": big, "ok.png": client.png()})))])
        assert "more than the limit of 50000" in reasons(body)["big.png"]

    async def test_too_many_members_refuse_the_archive_whole(self, small_limits_api: ProjectsApi) -> None:
        client = small_limits_api
        project = await client.project(OWNER, MEMBERS)
        archive = client.zip_of({f"f{i}.png": client.png(seed=i) for i in range(4)})
        response = await client.http.post(
            f"{API}/projects/{project['id']}/frames",
            files=[("image", ("many.zip", archive)), ("image", ("alone.png", client.png()))],
            headers=client.as_user(OWNER))
        assert response.status_code == 422
        assert response.json()["type"].endswith("/archive-refused")
        assert "4 files" in response.json()["detail"]
        listed = await client.http.get(f"{API}/projects/{project['id']}/frames",
                                       headers=client.as_user(OWNER))
        assert listed.json()["total"] == 0  # nothing half-imported
        assert list(FilesystemBlobStore(client.blob_dir).keys()) == []

    async def test_a_corrupt_archive_is_refused(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        archive = client.zip_of({"a.png": client.png()})
        response = await client.http.post(
            f"{API}/projects/{project['id']}/frames",
            files=[("archive", ("bad.zip", archive[:30]))], headers=client.as_user(OWNER))
        assert response.status_code == 422
        assert response.json()["type"].endswith("/archive-refused")

    async def test_a_member_lying_about_its_size_is_rejected(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        data = bytearray(client.zip_of({"liar.png": client.png(), "ok.png": client.png(seed=1)}))
        # Shrink liar.png's declared size in its central directory entry: it inflates past it.
        central = data.index(b"PK\x01\x02")
        data[central + 24:central + 28] = (10).to_bytes(4, "little")
        body = await client.upload(project["id"], [("archive", ("liar.zip", bytes(data)))])
        assert [f["file_name"] for f in body["imported"]] == ["ok.png"]
        assert "liar.png" in reasons(body)


class TestFrames:
    async def test_fetch_as_sent_converted_and_negotiated(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        sent = client.png(seed=9)
        frame = (await client.upload(project["id"], [("image", ("f.png", sent))]))["imported"][0]
        url = f"{API}/frames/{frame['id']}"
        got = await client.http.get(url, headers=client.as_user(VIEWER))
        assert got.status_code == 200 and got.json()["file_name"] == "f.png"
        image = await client.http.get(f"{url}/image", headers=client.as_user(VIEWER))
        assert image.content == sent and image.headers["content-type"] == "image/png"
        jpeg = await client.http.get(f"{url}/image", params={"output": "jpeg"},
                                     headers=client.as_user(VIEWER))
        assert jpeg.headers["content-type"] == "image/jpeg" and jpeg.content[:2] == b"\xff\xd8"
        by_accept = await client.http.get(f"{url}/image",
                                          headers={**client.as_user(VIEWER), "Accept": "image/webp"})
        assert by_accept.headers["content-type"] == "image/webp"
        assert (await client.http.get(f"{url}/image", params={"output": "gif"},
                                      headers=client.as_user(VIEWER))).status_code == 422
        assert (await client.http.get(f"{url}/image", headers={
            **client.as_user(VIEWER), "Accept": "text/csv"})).status_code == 406

    async def test_tiles_of_a_pyramid(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        pixels = np.zeros((600, 1000), np.uint8)
        pixels[:, 500:] = 200
        ok, encoded = cv2.imencode(".png", pixels)
        assert ok
        frame = (await client.upload(project["id"], [("image", ("big.png", encoded.tobytes()))])
                 )["imported"][0]
        assert frame["tiles"]["max_zoom"] == 2
        base = f"{API}/frames/{frame['id']}/tiles"

        async def tile(z: int, x: int, y: int) -> np.ndarray:
            response = await client.http.get(f"{base}/{z}/{x}/{y}.png",
                                             headers=client.as_user(VIEWER))
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "image/png"
            decoded = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_UNCHANGED)
            assert decoded.shape == (256, 256, 4)
            return decoded

        whole = await tile(0, 0, 0)
        # z=0: 1000 x 600 scaled by 1/4 = 250 x 150, the rest transparent.
        assert whole[:150, :250, 3].min() == 255 and whole[150:, :, 3].max() == 0
        assert whole[:, 250:, 3].max() == 0 and whole[75, 200, 0] == 200 and whole[75, 50, 0] == 0
        corner = await tile(2, 3, 2)  # full resolution, bottom-right: 232 x 88 pixels of frame
        assert corner[:88, :232, 3].min() == 255 and corner[88:, :, 3].max() == 0
        assert corner[0, 0, 0] == 200
        for z, x, y in ((2, 4, 0), (2, 0, 3), (1, 2, 0), (3, 0, 0)):
            missing = await client.http.get(f"{base}/{z}/{x}/{y}.png", headers=client.as_user(VIEWER))
            assert missing.status_code == 404, (z, x, y)
            assert missing.json()["type"].endswith("/tile-not-found")
        assert (await client.http.get(f"{base}/-1/0/0.png",
                                      headers=client.as_user(VIEWER))).status_code == 422
        assert (await client.http.get(f"{base}/0/0/a.png",
                                      headers=client.as_user(VIEWER))).status_code == 422

    async def test_delete_removes_the_objects_and_blobs(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        frames = (await client.upload(project["id"], [("image", ("a.png", client.png(seed=1))),
                                                      ("image", ("b.png", client.png(seed=2)))]))
        a, b = (f["id"] for f in frames["imported"])
        # a's object as stored before migration 0008 (its mask a blob), b's as a run stores it
        (gone,) = client.add_objects(a, [client.new_object(1)], mask_blobs=True)
        (kept,) = client.add_objects(b, [client.new_object(1)])
        store = FilesystemBlobStore(client.blob_dir)
        assert len(list(store.keys())) == 5
        assert (await client.http.delete(f"{API}/frames/{a}",
                                         headers=client.as_user(MANAGER))).status_code == 204
        assert (await client.http.get(f"{API}/objects/{gone}",
                                      headers=client.as_user(OWNER))).status_code == 404
        assert (await client.http.get(f"{API}/objects/{kept}",
                                      headers=client.as_user(OWNER))).status_code == 200
        assert len(list(store.keys())) == 2
        # The name is free again.
        again = await client.upload(project["id"], [("image", ("a.png", client.png(seed=1)))])
        assert again["imported_count"] == 1

    async def test_listing_pages_and_sorts(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        await client.upload(project["id"], [("image", (f"f{i}.png", client.png(seed=i))) for i in range(5)])
        page = await client.http.get(f"{API}/projects/{project['id']}/frames",
                                     params={"limit": 2, "offset": 1, "sort": "-file_name"},
                                     headers=client.as_user(ANNOTATOR))
        body = page.json()
        assert body["total"] == 5 and [f["file_name"] for f in body["items"]] == ["f3.png", "f2.png"]
        assert (await client.http.get(f"{API}/projects/{project['id']}/frames",
                                      params={"colour": "red"},
                                      headers=client.as_user(ADMIN))).status_code == 422




class TestJsonUploads:
    async def test_files_as_base64_with_a_metadata_table(self, client: ProjectsApi) -> None:
        import base64

        project = await client.project(OWNER, MEMBERS)
        archive = client.zip_of({"z1.png": client.png(seed=1)})
        body = {"files": [
            {"name": "j1.png", "data": base64.b64encode(client.png(seed=2)).decode()},
            {"name": "j2.png", "data": "data:image/png;base64,"
                                       + base64.b64encode(client.png(seed=3)).decode()},
            {"name": "z.zip", "data": base64.b64encode(archive).decode()}],
            "metadata": "file_name,sample_id\nj1.png,s9\nz1.png,s8\n", "acq_id": "a"}
        response = await client.http.post(f"{API}/projects/{project['id']}/frames", json=body,
                                          headers=client.as_user(OWNER))
        assert response.status_code == 201, response.text
        frames = {f["file_name"]: f for f in response.json()["imported"]}
        assert sorted(frames) == ["j1.png", "j2.png", "z1.png"]
        assert (frames["j1.png"]["sample_id"], frames["z1.png"]["sample_id"]) == ("s9", "s8")
        assert frames["j2.png"]["acq_id"] == "a"

    @pytest.mark.parametrize("body", [{}, {"files": []}, {"files": [{"name": "a.png"}]},
                                      {"files": [{"name": "a.png", "data": "%%%"}]},
                                      {"files": [{"name": "a.png", "data": "aGk="}],
                                       "metadata": 3},
                                      {"files": [{"name": "a.png", "data": "aGk="}],
                                       "colour": "red"}, []])
    async def test_malformed_json_is_422(self, client: ProjectsApi, body: Any) -> None:
        project = await client.project(OWNER, MEMBERS)
        response = await client.http.post(f"{API}/projects/{project['id']}/frames", json=body,
                                          headers=client.as_user(OWNER))
        assert response.status_code == 422, body


class TestConcurrentUploads:
    async def test_the_same_name_at_once_is_stored_once_never_a_500(
            self, client: ProjectsApi) -> None:
        import asyncio

        project = await client.project(OWNER, MEMBERS)

        async def send(seed: int) -> int:
            response = await client.http.post(
                f"{API}/projects/{project['id']}/frames",
                files=[("image", ("same.png", client.png(seed=seed)))],
                headers=client.as_user(OWNER))
            return response.status_code

        statuses = await asyncio.gather(*(send(seed) for seed in range(4)))
        # One stores it; the others find it there (422 duplicate), or, on SQLite, find the
        # database locked by it (503, retry): never a 500 from the unique constraint.
        assert statuses.count(201) == 1, statuses
        assert set(statuses) <= {201, 422, 503}, statuses
        listed = await client.http.get(f"{API}/projects/{project['id']}/frames",
                                       headers=client.as_user(OWNER))
        assert listed.json()["total"] == 1


class TestUnnamedUploads:
    async def test_json_images_and_raw_bodies_are_named_by_their_content(
            self, client: ProjectsApi) -> None:
        import base64
        import hashlib

        project = await client.project(OWNER, MEMBERS)
        url = f"{API}/projects/{project['id']}/frames"
        frame = client.png(seed=21)
        expected = f"{hashlib.sha256(frame).hexdigest()[:16]}.png"
        as_json = await client.http.post(url, json={"image": base64.b64encode(frame).decode()},
                                         headers=client.as_user(OWNER))
        assert as_json.status_code == 201, as_json.text
        assert as_json.json()["imported"][0]["file_name"] == expected
        again = await client.http.post(url, content=frame, headers={
            **client.as_user(OWNER), "Content-Type": "image/png"})
        assert again.status_code == 422  # the same bytes: the same name, a duplicate
        assert again.json()["rejected"][0]["reason"].startswith("duplicate")
        archive = client.zip_of({"in-zip.png": client.png(seed=22)})
        raw_zip = await client.http.post(url, content=archive, headers={
            **client.as_user(OWNER), "Content-Type": "application/zip"})
        assert raw_zip.status_code == 201, raw_zip.text
        assert raw_zip.json()["imported"][0]["file_name"] == "in-zip.png"
        text = await client.http.post(url, content=b"a,b", headers={
            **client.as_user(OWNER), "Content-Type": "text/csv"})
        assert text.status_code == 415

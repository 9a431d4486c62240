"""Plankton projects through the API (issue 12): projects, members, frames, objects, review.

Every test runs on SQLite and on PostgreSQL (``database_url``). Objects are written as a run
writes them, with ``replace_frame_objects`` (the run pipeline is the jobs' part).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from specimen_classify.adapters.project_repository import replace_frame_objects
from specimen_classify.domain.plankton.projects import NewObject
from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.database import build_engine, build_sessionmaker

API = "/api/v1"
OWNER, MANAGER, ANNOTATOR, VIEWER, STRANGER, ADMIN = 10, 11, 12, 13, 14, 1


def png(height: int = 40, width: int = 60, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (height, width), dtype=np.uint8)
    ok, data = cv2.imencode(".png", pixels)
    assert ok
    return bytes(data.tobytes())


def zip_of(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return out.getvalue()


@dataclass
class Client:
    http: httpx.AsyncClient
    auth: Callable[..., dict[str, str]]
    database_url: str
    blob_dir: Path

    def as_user(self, user_id: int) -> dict[str, str]:
        role = "admin" if user_id == ADMIN else "technician"
        return self.auth(sub=str(user_id), role=role, hospital="General")

    async def project(self, **fields: Any) -> dict[str, Any]:
        response = await self.http.post(f"{API}/projects", json={"name": "Cruise", **fields},
                                         headers=self.as_user(OWNER))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        for user, role in ((MANAGER, "manager"), (ANNOTATOR, "annotator"), (VIEWER, "viewer")):
            added = await self.http.put(f"{API}/projects/{body['id']}/members/{user}",
                                        json={"role": role}, headers=self.as_user(OWNER))
            assert added.status_code == 201, added.text
        return body

    async def upload(self, project_id: int, files: list[tuple[str, tuple[str, bytes]]],
                     data: dict[str, str] | None = None, user: int = OWNER,
                     expect: int = 201) -> dict[str, Any]:
        response = await self.http.post(f"{API}/projects/{project_id}/frames", files=files,
                                         data=data or {}, headers=self.as_user(user))
        assert response.status_code == expect, response.text
        body: dict[str, Any] = response.json()
        return body

    def add_objects(self, frame_id: int, objects: list[NewObject], job_id: int = 1) -> list[int]:
        """Objects as a run writes them, with crop and mask blobs; returns their ids."""
        store = FilesystemBlobStore(self.blob_dir)
        with_blobs = [replace(o, crop_key=store.put(png(12, 10, o.rank)),
                              mask_key=store.put(png(12, 10, 100 + o.rank))) for o in objects]
        engine = build_engine(self.database_url)
        try:
            with build_sessionmaker(engine)() as session:
                replace_frame_objects(session, frame_id, job_id, with_blobs)
            with engine.connect() as connection:
                from sqlalchemy import text
                return [row[0] for row in connection.execute(
                    text("SELECT id FROM plankton_objects WHERE frame_id = :f ORDER BY rank"),
                    {"f": frame_id})]
        finally:
            engine.dispose()


def new_object(rank: int, category: str = "copepod", probability: float = 0.9) -> NewObject:
    return NewObject(rank=rank, bbox=(1, 2, 13, 12), centroid=(6.5, 7.0),
                     features={"area": 100.0 + rank, "eccentricity": 0.5},
                     feature_set_version="2", category=category, probability=probability,
                     scores={category: probability, "other": round(1 - probability, 6)},
                     model_name="plankton-forest", model_version=1)


@pytest.fixture
async def client(serving_client: Any, database_url: str, auth: Any,
                 tmp_path: Path) -> AsyncIterator[Client]:
    async with serving_client(database_url=database_url) as http:
        yield Client(http, auth, database_url, tmp_path / "classify-blobs")


@pytest.fixture
async def small_limits(serving_client: Any, database_url: str, auth: Any,
                       tmp_path: Path) -> AsyncIterator[Client]:
    async with serving_client(database_url=database_url, frames_zip_max_members=3,
                              frames_zip_max_member_bytes=50_000,
                              frames_zip_max_ratio=20.0) as http:
        yield Client(http, auth, database_url, tmp_path / "classify-blobs")


class TestProjects:
    async def test_create_fills_in_the_default_settings(self, client: Client) -> None:
        response = await client.http.post(
            f"{API}/projects", json={"name": " Point B ", "instrument": "ZooScan",
                                     "pixel_size_um": 10.6, "settings": {"min_area": 30}},
            headers=client.as_user(OWNER))
        assert response.status_code == 201, response.text
        body = response.json()
        assert response.headers["Location"] == f"{API}/projects/{body['id']}"
        assert body["name"] == "Point B" and body["owner_id"] == OWNER
        assert body["role"] == "manager"
        assert body["settings"]["min_area"] == 30
        assert body["settings"]["padding"] == 8 and body["settings"]["polarity"] == "dark-on-light"
        assert body["created_at"].endswith("Z")

    @pytest.mark.parametrize("settings", [{"min_area": -1}, {"no_such_field": 1},
                                          {"polarity": "sideways"}, {"padding": 10_000}])
    async def test_bad_settings_are_named(self, client: Client, settings: dict[str, Any]) -> None:
        response = await client.http.post(f"{API}/projects",
                                          json={"name": "x", "settings": settings},
                                          headers=client.as_user(OWNER))
        assert response.status_code == 422
        assert next(iter(settings)) in response.text

    async def test_empty_name_is_refused(self, client: Client) -> None:
        for name in ("", "   "):
            response = await client.http.post(f"{API}/projects", json={"name": name},
                                              headers=client.as_user(OWNER))
            assert response.status_code == 422, name

    async def test_listing_shows_only_the_projects_one_may_see(self, client: Client) -> None:
        mine = await client.project(name="Alpha plankton")
        other = await client.http.post(f"{API}/projects", json={"name": "Beta",
                                                                 "description": "ALPHA inside"},
                                       headers=client.as_user(STRANGER))
        assert other.status_code == 201

        async def names(user: int, **params: Any) -> list[str]:
            response = await client.http.get(f"{API}/projects", params=params,
                                             headers=client.as_user(user))
            assert response.status_code == 200, response.text
            return [item["name"] for item in response.json()["items"]]

        assert await names(OWNER) == ["Alpha plankton"]
        assert await names(VIEWER) == ["Alpha plankton"]
        assert await names(STRANGER) == ["Beta"]
        assert await names(ADMIN, sort="name") == ["Alpha plankton", "Beta"]
        assert await names(ADMIN, q="alpha", sort="-name") == ["Beta", "Alpha plankton"]
        assert await names(ADMIN, q="100%") == []
        page = await client.http.get(f"{API}/projects", params={"limit": 1, "offset": 1,
                                                                "sort": "id"},
                                     headers=client.as_user(ADMIN))
        assert page.json()["total"] == 2 and [i["id"] for i in page.json()["items"]] == [
            other.json()["id"]]
        viewer_item = (await client.http.get(f"{API}/projects", headers=client.as_user(VIEWER))
                       ).json()["items"][0]
        assert viewer_item["id"] == mine["id"] and viewer_item["role"] == "viewer"
        bad = await client.http.get(f"{API}/projects", params={"sort": "owner"},
                                    headers=client.as_user(OWNER))
        assert bad.status_code == 422

    async def test_patch_changes_and_clears_fields(self, client: Client) -> None:
        project = await client.project(description="first", instrument="UVP")
        response = await client.http.patch(
            f"{API}/projects/{project['id']}",
            json={"name": "Renamed", "description": None, "settings": {"padding": 2}},
            headers=client.as_user(MANAGER))
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["name"], body["description"], body["instrument"]) == ("Renamed", None, "UVP")
        assert body["settings"]["padding"] == 2 and body["settings"]["min_area"] > 0
        for bad in ({"name": None}, {"settings": None}, {"settings": {"min_area": "x"}},
                    {"owner_id": 3}):
            refused = await client.http.patch(f"{API}/projects/{project['id']}", json=bad,
                                              headers=client.as_user(OWNER))
            assert refused.status_code == 422, bad

    async def test_delete_removes_frames_objects_and_blobs(self, client: Client) -> None:
        project = await client.project()
        frames = await client.upload(project["id"], [("image", ("a.png", png()))])
        frame_id = frames["imported"][0]["id"]
        object_ids = client.add_objects(frame_id, [new_object(1)])
        assert len(list(FilesystemBlobStore(client.blob_dir).keys())) == 3
        deleted = await client.http.delete(f"{API}/projects/{project['id']}",
                                           headers=client.as_user(MANAGER))
        assert deleted.status_code == 204
        for path in (f"projects/{project['id']}", f"frames/{frame_id}",
                     f"objects/{object_ids[0]}"):
            gone = await client.http.get(f"{API}/{path}", headers=client.as_user(ADMIN))
            assert gone.status_code == 404, path
        assert list(FilesystemBlobStore(client.blob_dir).keys()) == []


class TestMembers:
    async def test_members_listed_owner_first(self, client: Client) -> None:
        project = await client.project()
        response = await client.http.get(f"{API}/projects/{project['id']}/members",
                                         headers=client.as_user(VIEWER))
        assert response.status_code == 200
        items = response.json()["items"]
        assert [(m["user_id"], m["role"], m["owner"]) for m in items] == [
            (OWNER, "manager", True), (MANAGER, "manager", False),
            (ANNOTATOR, "annotator", False), (VIEWER, "viewer", False)]
        assert response.json()["total"] == 4

    async def test_put_changes_a_role_and_delete_removes_it(self, client: Client) -> None:
        project = await client.project()
        base = f"{API}/projects/{project['id']}/members"
        changed = await client.http.put(f"{base}/{VIEWER}", json={"role": "annotator"},
                                        headers=client.as_user(MANAGER))
        assert changed.status_code == 200 and changed.json()["role"] == "annotator"
        one = await client.http.get(f"{base}/{VIEWER}", headers=client.as_user(VIEWER))
        assert one.json()["role"] == "annotator"
        assert (await client.http.delete(f"{base}/{VIEWER}",
                                         headers=client.as_user(OWNER))).status_code == 204
        # Gone: the former member no longer sees the project at all.
        assert (await client.http.get(f"{API}/projects/{project['id']}",
                                      headers=client.as_user(VIEWER))).status_code == 404
        missing = await client.http.delete(f"{base}/{VIEWER}", headers=client.as_user(OWNER))
        assert missing.status_code == 404
        assert missing.json()["type"].endswith("/member-not-found")
        assert (await client.http.get(f"{base}/{VIEWER}",
                                      headers=client.as_user(OWNER))).status_code == 404

    async def test_the_owner_is_always_a_manager(self, client: Client) -> None:
        project = await client.project()
        base = f"{API}/projects/{project['id']}/members/{OWNER}"
        demote = await client.http.put(base, json={"role": "viewer"},
                                       headers=client.as_user(MANAGER))
        assert demote.status_code == 422 and demote.json()["field"] == "user_id"
        assert (await client.http.delete(base, headers=client.as_user(ADMIN))).status_code == 422

    async def test_bad_roles_and_ids_are_refused(self, client: Client) -> None:
        project = await client.project()
        base = f"{API}/projects/{project['id']}/members"
        assert (await client.http.put(f"{base}/20", json={"role": "owner"},
                                      headers=client.as_user(OWNER))).status_code == 422
        assert (await client.http.put(f"{base}/0", json={"role": "viewer"},
                                      headers=client.as_user(OWNER))).status_code == 422


# --- the membership x route matrix ------------------------------------------------------------

VIEW, ANNOTATE, MANAGE = "viewer", "annotator", "manager"
RANK = {VIEW: 1, ANNOTATE: 2, MANAGE: 3}
USERS = {"owner": (OWNER, 3), "manager": (MANAGER, 3), "annotator": (ANNOTATOR, 2),
         "viewer": (VIEWER, 1), "stranger": (STRANGER, 0), "admin": (ADMIN, 3)}


class TestMembershipMatrix:
    async def test_every_route_by_role(self, client: Client) -> None:
        project = await client.project()
        p = project["id"]
        frame = (await client.upload(p, [("image", ("m.png", png(300, 300)))]))["imported"][0]
        f = frame["id"]
        (o,) = client.add_objects(f, [new_object(1)])
        routes: list[tuple[str, str, str, dict[str, Any]]] = [
            ("GET", f"/projects/{p}", VIEW, {}),
            ("PATCH", f"/projects/{p}", MANAGE, {"json": {"description": "d"}}),
            ("GET", f"/projects/{p}/members", VIEW, {}),
            ("GET", f"/projects/{p}/members/{OWNER}", VIEW, {}),
            ("PUT", f"/projects/{p}/members/77", MANAGE, {"json": {"role": "viewer"}}),
            ("DELETE", f"/projects/{p}/members/77", MANAGE, {}),
            ("GET", f"/projects/{p}/frames", VIEW, {}),
            ("GET", f"/frames/{f}", VIEW, {}),
            ("GET", f"/frames/{f}/image", VIEW, {}),
            ("GET", f"/frames/{f}/tiles/0/0/0.png", VIEW, {}),
            ("GET", f"/projects/{p}/objects", VIEW, {}),
            ("GET", f"/projects/{p}/objects/counts", VIEW, {}),
            ("GET", f"/objects/{o}", VIEW, {}),
            ("GET", f"/objects/{o}/crop.png", VIEW, {}),
            ("GET", f"/objects/{o}/mask.png", VIEW, {}),
            ("POST", f"/projects/{p}/objects/annotations", ANNOTATE,
             {"json": {"ids": [o], "status": "dubious"}}),
        ]
        wrong: list[str] = []
        for user, (user_id, rank) in USERS.items():
            for method, path, needed, extra in routes:
                if method == "DELETE":  # put the member back for the next caller
                    await client.http.put(f"{API}/projects/{p}/members/77", json={"role": "viewer"},
                                          headers=client.as_user(OWNER))
                response = await client.http.request(method, f"{API}{path}",
                                                     headers=client.as_user(user_id), **extra)
                expected = 404 if rank == 0 else (403 if rank < RANK[needed] else None)
                ok = (response.status_code == expected if expected
                      else 200 <= response.status_code < 300)
                if not ok:
                    wrong.append(f"{user} {method} {path}: {response.status_code}")
            uploaded = await client.http.post(
                f"{API}/projects/{p}/frames", files=[("image", (f"u{user_id}.png", png()))],
                headers=client.as_user(user_id))
            expected_upload = 404 if rank == 0 else (403 if rank < 3 else 201)
            if uploaded.status_code != expected_upload:
                wrong.append(f"{user} upload: {uploaded.status_code}")
        assert wrong == []

    async def test_deleting_needs_a_manager_and_strangers_learn_nothing(
            self, client: Client) -> None:
        project = await client.project()
        p = project["id"]
        frame = (await client.upload(p, [("image", ("d.png", png()))]))["imported"][0]
        for user, expected in ((STRANGER, 404), (VIEWER, 403), (ANNOTATOR, 403)):
            for path in (f"/frames/{frame['id']}", f"/projects/{p}"):
                response = await client.http.delete(f"{API}{path}",
                                                    headers=client.as_user(user))
                assert response.status_code == expected, (user, path)
        stranger = await client.http.get(f"{API}/projects/{p}", headers=client.as_user(STRANGER))
        never = await client.http.get(f"{API}/projects/999999", headers=client.as_user(STRANGER))
        assert stranger.json()["detail"].replace(str(p), "N") == never.json()["detail"].replace(
            "999999", "N")
        assert (await client.http.delete(f"{API}/frames/{frame['id']}",
                                         headers=client.as_user(MANAGER))).status_code == 204
        assert (await client.http.delete(f"{API}/projects/{p}",
                                         headers=client.as_user(ADMIN))).status_code == 204

    async def test_no_token_is_a_401(self, client: Client) -> None:
        project = await client.project()
        for path in (f"/projects/{project['id']}", "/projects", "/frames/1", "/objects/1"):
            assert (await client.http.get(f"{API}{path}")).status_code == 401

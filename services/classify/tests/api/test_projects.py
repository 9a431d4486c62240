"""Plankton projects through the API (issue 12): projects, members, frames, objects, review.

Every test runs on SQLite and on PostgreSQL (``database_url``). Objects are written as a run
writes them, with ``replace_frame_objects`` (the run pipeline is the jobs' part).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


class TestProjects:
    async def test_create_fills_in_the_default_settings(self, client: ProjectsApi) -> None:
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
    async def test_bad_settings_are_named(self, client: ProjectsApi, settings: dict[str, Any]) -> None:
        response = await client.http.post(f"{API}/projects",
                                          json={"name": "x", "settings": settings},
                                          headers=client.as_user(OWNER))
        assert response.status_code == 422
        assert next(iter(settings)) in response.text

    async def test_empty_name_is_refused(self, client: ProjectsApi) -> None:
        for name in ("", "   "):
            response = await client.http.post(f"{API}/projects", json={"name": name},
                                              headers=client.as_user(OWNER))
            assert response.status_code == 422, name

    async def test_listing_shows_only_the_projects_one_may_see(self, client: ProjectsApi) -> None:
        mine = await client.project(OWNER, MEMBERS, name="Alpha plankton")
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

    async def test_patch_changes_and_clears_fields(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS, description="first", instrument="UVP")
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

    async def test_delete_removes_frames_objects_and_blobs(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        frames = await client.upload(project["id"], [("image", ("a.png", client.png())),
                                                     ("image", ("b.png", client.png()))])
        frame_id, older_frame_id = (frame["id"] for frame in frames["imported"])
        object_ids = client.add_objects(frame_id, [client.new_object(1)])
        # and an object stored before migration 0008, its mask a blob too
        client.add_objects(older_frame_id, [client.new_object(1)], mask_blobs=True)
        # two frames' images, two crops, one mask (a run's mask is in its object's row)
        assert len(list(FilesystemBlobStore(client.blob_dir).keys())) == 5
        deleted = await client.http.delete(f"{API}/projects/{project['id']}",
                                           headers=client.as_user(MANAGER))
        assert deleted.status_code == 204
        for path in (f"projects/{project['id']}", f"frames/{frame_id}",
                     f"objects/{object_ids[0]}"):
            gone = await client.http.get(f"{API}/{path}", headers=client.as_user(ADMIN))
            assert gone.status_code == 404, path
        assert list(FilesystemBlobStore(client.blob_dir).keys()) == []


class TestMembers:
    async def test_members_listed_owner_first(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        response = await client.http.get(f"{API}/projects/{project['id']}/members",
                                         headers=client.as_user(VIEWER))
        assert response.status_code == 200
        items = response.json()["items"]
        assert [(m["user_id"], m["role"], m["owner"]) for m in items] == [
            (OWNER, "manager", True), (MANAGER, "manager", False),
            (ANNOTATOR, "annotator", False), (VIEWER, "viewer", False)]
        assert response.json()["total"] == 4

    async def test_put_changes_a_role_and_delete_removes_it(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
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

    async def test_the_owner_is_always_a_manager(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        base = f"{API}/projects/{project['id']}/members/{OWNER}"
        demote = await client.http.put(base, json={"role": "viewer"},
                                       headers=client.as_user(MANAGER))
        assert demote.status_code == 422 and demote.json()["field"] == "user_id"
        assert (await client.http.delete(base, headers=client.as_user(ADMIN))).status_code == 422

    async def test_bad_roles_and_ids_are_refused(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
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
    async def test_every_route_by_role(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        p = project["id"]
        frame = (await client.upload(p, [("image", ("m.png", client.png(300, 300)))]))["imported"][0]
        f = frame["id"]
        (o,) = client.add_objects(f, [client.new_object(1)])
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
                f"{API}/projects/{p}/frames", files=[("image", (f"u{user_id}.png", client.png()))],
                headers=client.as_user(user_id))
            expected_upload = 404 if rank == 0 else (403 if rank < 3 else 201)
            if uploaded.status_code != expected_upload:
                wrong.append(f"{user} upload: {uploaded.status_code}")
        assert wrong == []

    async def test_deleting_needs_a_manager_and_strangers_learn_nothing(
            self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        p = project["id"]
        frame = (await client.upload(p, [("image", ("d.png", client.png()))]))["imported"][0]
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

    async def test_no_token_is_a_401(self, client: ProjectsApi) -> None:
        project = await client.project(OWNER, MEMBERS)
        for path in (f"/projects/{project['id']}", "/projects", "/frames/1", "/objects/1"):
            assert (await client.http.get(f"{API}{path}")).status_code == 401

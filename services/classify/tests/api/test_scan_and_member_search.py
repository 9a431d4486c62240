"""``POST /scans/search`` and ``POST /objects/search`` (issue 14) on SQLite and PostgreSQL: the
scope is part of the query (another hospital's scan, another project's object never appear,
even as the exact nearest), the three kinds of query, the descriptor version rule, the
backfill of scans filed before the search, and the in-process caches: every write after a
cached search (filing, deletion, a move between hospitals, new objects, membership) is seen by
the next one, and unchanged rows are not read again."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from sqlalchemy import delete, select

from specimen_classify.adapters.descriptor_backfill import describe_scans, start_backfill
from specimen_classify.adapters.object_descriptor_repository import (
    ProjectVectorCache,
    SqlObjectDescriptorRepository,
)
from specimen_classify.adapters.scan_descriptor_repository import (
    ScanVectorCache,
    SqlScanDescriptorRepository,
)
from specimen_classify.adapters.tables import ScanDescriptorRow
from specimen_classify.config import ClassifySettings
from specimen_classify.domain.plankton.object_similarity import (
    DIMENSIONS,
    FEATURE_NAMES,
    OBJECT_DESCRIPTOR_VERSION,
    combine,
    feature_part,
)
from specimen_classify.domain.search_vectors import DIMENSIONS as SCAN_DIMENSIONS
from specimen_classify.domain.search_vectors import SCAN_DESCRIPTOR_SET_VERSION
from specimen_imaging import similarity
from specimen_kit.blobs import FilesystemBlobStore
from specimen_kit.database import build_engine, build_sessionmaker

if TYPE_CHECKING:
    from conftest import Api, ProjectsApi, Slices

SCAN_SEARCH = "/api/v1/scans/search"
OBJECT_SEARCH = "/api/v1/objects/search"


def slice_descriptor(slices: Slices, seed: int) -> list[float]:
    """What segment sends for the slice's PNG uploaded as a query: the whole picture's vector."""
    return [float(v) for v in similarity.describe_working_copy(slices.pixels(seed))]


async def scan_search(api: Api, headers: dict[str, str], expect: int = 200, **fields: Any) -> Any:
    response = await api.http.post(SCAN_SEARCH, json=fields, headers=headers)
    assert response.status_code == expect, response.text
    return response.json()


class TestScanScope:
    async def test_another_hospital_s_scan_never_appears_even_as_the_exact_nearest(
            self, api: Api, slices: Slices) -> None:
        own = [(await api.create(slices.file(seed)))["id"] for seed in (1, 2)]
        elsewhere = (await api.create(slices.file(3), headers=api.other_moderator))["id"]
        query = slice_descriptor(slices, 3)
        mine = await scan_search(api, api.technician, descriptor=query, descriptor_set_version="1")
        everyone = await scan_search(api, api.admin, descriptor=query, descriptor_set_version="1")
        st_mary = await scan_search(api, api.admin, descriptor=query, descriptor_set_version="1",
                                    hospital="St Mary")
        named = await scan_search(api, api.technician, descriptor=query,
                                  descriptor_set_version="1", hospital="St Mary")
        assert sorted(item["scan_id"] for item in mine["items"]) == sorted(own)
        assert mine["candidates"] == 2
        assert everyone["items"][0]["scan_id"] == elsewhere
        assert everyone["items"][0]["similarity"] == pytest.approx(1.0, abs=1e-5)
        assert [item["scan_id"] for item in st_mary["items"]] == [elsewhere]
        assert named == {"items": [], "candidates": 0, "descriptor_set_version": "1"}

    async def test_a_scan_of_another_hospital_as_the_query_is_its_404(
            self, api: Api, slices: Slices) -> None:
        elsewhere = (await api.create(slices.file(3), headers=api.other_moderator))["id"]
        answer = await scan_search(api, api.technician, expect=404, scan_id=elsewhere)
        assert answer["type"].endswith("/scan-not-found")


class TestScanQueries:
    async def test_upload_scan_id_and_descriptor_rank_alike(self, api: Api, slices: Slices) -> None:
        ids = [(await api.create(slices.file(seed)))["id"] for seed in (1, 2, 3)]
        uploaded = await api.http.post(SCAN_SEARCH, files={"image": ("q.png", slices.file(2))},
                                       data={"limit": "2"}, headers=api.technician)
        by_id = await scan_search(api, api.technician, scan_id=ids[1])
        by_vector = await scan_search(api, api.technician, descriptor=slice_descriptor(slices, 2),
                                      descriptor_set_version="1")
        assert uploaded.status_code == 200, uploaded.text
        top = uploaded.json()["items"]
        assert len(top) == 2 and top[0]["scan_id"] == ids[1]
        assert top[0]["similarity"] == pytest.approx(1.0, abs=1e-5)
        assert top[0]["url"] == f"/api/v1/scans/{ids[1]}"
        assert top[0]["content_url"] == f"/api/v1/scans/{ids[1]}/image"
        assert by_vector["items"][0]["scan_id"] == ids[1]
        # A scan is not its own answer; the others come in the same order as for its picture.
        assert [item["scan_id"] for item in by_id["items"]] == [
            item["scan_id"] for item in by_vector["items"][1:]]
        assert by_id["candidates"] == 2

    @pytest.mark.parametrize(("fields", "says"), [
        ({}, "nothing to search by"),
        ({"scan_id": 1, "descriptor": [1.0] * 48, "descriptor_set_version": "1"}, "one thing"),
        ({"descriptor": [1.0] * 48}, "descriptor_set_version"),
        ({"descriptor": [1.0] * 48, "descriptor_set_version": "2"}, "never compared"),
        ({"descriptor": [1.0] * 47, "descriptor_set_version": "1"}, "has 48"),
        ({"descriptor": [0.0] * 48, "descriptor_set_version": "1"}, "not all zeros"),
        ({"descriptor": [1.0] * 48, "descriptor_set_version": "1", "limit": 0}, "limit"),
        ({"descriptor": [1.0] * 48, "descriptor_set_version": "1", "colour": 1}, "colour"),
    ])
    async def test_a_query_that_is_not_one_is_a_422_naming_the_fix(
            self, api: Api, fields: dict[str, Any], says: str) -> None:
        answer = await scan_search(api, api.technician, expect=422, **fields)
        assert says in str(answer)


class TestScanBackfill:
    async def test_scans_filed_before_the_search_are_described_as_filing_describes_them(
            self, api: Api, slices: Slices, database_url: str, tmp_path: Path) -> None:
        ids = [(await api.create(slices.file(seed)))["id"] for seed in (1, 2)]
        engine = build_engine(database_url)
        try:
            sessions = build_sessionmaker(engine)
            with sessions() as session:
                before = dict(session.execute(select(ScanDescriptorRow.scan_id,
                                                     ScanDescriptorRow.vector)).all())
            with sessions() as session, session.begin():
                session.execute(delete(ScanDescriptorRow))
            lost = await scan_search(api, api.technician, descriptor=slice_descriptor(slices, 1),
                                     descriptor_set_version="1")
            with sessions() as session, session.begin():
                job, tasks = start_backfill(session, created_by=1)
            assert len(tasks) == 1  # one task for the two scans
            blobs = FilesystemBlobStore(ClassifySettings(data_dir=tmp_path).resolved_blob_dir)
            done = describe_scans(sessions, blobs, ids[0], ids[1], 50_000_000)
            again = describe_scans(sessions, blobs, ids[0], ids[1], 50_000_000)
            with sessions() as session:
                after = dict(session.execute(select(ScanDescriptorRow.scan_id,
                                                    ScanDescriptorRow.vector)).all())
        finally:
            engine.dispose()
        found = await scan_search(api, api.technician, descriptor=slice_descriptor(slices, 1),
                                  descriptor_set_version="1")
        assert job.kind == "descriptor-backfill" and job.total == 1
        assert lost["items"] == []
        assert (done, again) == ((2, 0), (0, 0))
        assert after == before
        assert found["items"][0]["scan_id"] == ids[0]


class TestScanCache:
    async def test_a_write_after_a_cached_search_is_seen_by_the_next(
            self, api: Api, slices: Slices) -> None:
        query = {"descriptor": slice_descriptor(slices, 1), "descriptor_set_version": "1",
                 "limit": 100}

        async def general() -> list[int]:
            body = await scan_search(api, api.technician, **query)
            return sorted(item["scan_id"] for item in body["items"])

        theirs = (await api.create(slices.file(4), headers=api.other_moderator))["id"]
        own = [(await api.create(slices.file(seed)))["id"] for seed in (1, 2)]
        assert await general() == own
        filed = (await api.create(slices.file(3)))["id"]
        assert await general() == sorted([*own, filed])
        deleted = await api.http.delete(f"/api/v1/scans/{filed}", headers=api.moderator)
        assert deleted.status_code == 204
        assert await general() == own
        # A swap keeps both hospitals' row counts and (without new ids) General's largest id.
        for scan_id, hospital in ((own[0], "St Mary"), (theirs, "General")):
            moved = await api.http.patch(f"/api/v1/scans/{scan_id}", json={"hospital": hospital},
                                         headers=api.admin)
            assert moved.status_code == 200, moved.text
        assert await general() == sorted([own[1], theirs])
        st_mary = await scan_search(api, api.other_moderator, **query)
        assert [item["scan_id"] for item in st_mary["items"]] == [own[0]]

    async def test_the_cache_reloads_a_hospital_only_when_its_rows_change(
            self, api: Api, slices: Slices, database_url: str) -> None:
        engine = build_engine(database_url)
        cache = ScanVectorCache(max_vectors=1000)

        def scope(hospital: str | None) -> Any:
            with build_sessionmaker(engine)() as session:
                return cache.vectors(hospital, SCAN_DESCRIPTOR_SET_VERSION, SCAN_DIMENSIONS,
                                     SqlScanDescriptorRepository(session))

        try:
            own = (await api.create(slices.file(1)))["id"]
            first = scope("general")
            assert first.scan_ids.tolist() == [own] and cache.loads == 1
            assert scope("general") is first and cache.loads == 1  # unchanged: no reload
            theirs = (await api.create(slices.file(2), headers=api.other_moderator))["id"]
            assert scope("general") is first and cache.loads == 1  # another hospital's write
            assert scope(None).scan_ids.tolist() == [own, theirs] and cache.loads == 2
            edited = await api.http.patch(f"/api/v1/scans/{own}", json={"notes": "seen"},
                                          headers=api.moderator)
            assert edited.status_code == 200
            assert scope("general") is first and cache.loads == 2  # not a move: same rows
            moved = await api.http.patch(f"/api/v1/scans/{theirs}", json={"hospital": "General"},
                                         headers=api.admin)
            assert moved.status_code == 200
            assert scope("general").scan_ids.tolist() == [own, theirs] and cache.loads == 3
            assert scope("st-mary").scan_ids.tolist() == [] and cache.loads == 4
        finally:
            engine.dispose()


# --- objects across the caller's projects ----------------------------------------------------

MEMBER, OUTSIDER_OWNER, ADMIN = 30, 31, 1


def object_vector(seed: int) -> tuple[np.ndarray, list[float]]:
    """A stored object descriptor of a random image part, and that image part as a query."""
    rng = np.random.default_rng(seed)
    image = rng.normal(size=similarity.DIMENSIONS)
    image /= np.linalg.norm(image)
    row = np.abs(rng.normal(size=len(FEATURE_NAMES))) * 10
    return combine(image, feature_part(row)), [float(v) for v in image]


async def described_project(client: ProjectsApi, owner: int, members: dict[int, str],
                            seeds: list[int]) -> list[int]:
    project = await client.project(owner, members)
    body = await client.upload(project["id"], [("image", ("f.png", client.png(seed=owner)))],
                               user=owner)
    frame = body["imported"][0]["id"]
    return client.add_objects(frame, [
        replace(client.new_object(rank), descriptor=object_vector(seed)[0],
                descriptor_version=OBJECT_DESCRIPTOR_VERSION)
        for rank, seed in enumerate(seeds, start=1)])


async def object_search(client: ProjectsApi, user: int, expect: int = 200, **fields: Any) -> Any:
    response = await client.http.post(OBJECT_SEARCH, json=fields, headers=client.as_user(user))
    assert response.status_code == expect, response.text
    return response.json()


class TestMemberObjectScope:
    async def test_objects_of_a_project_one_is_not_in_never_appear(
            self, projects_api: ProjectsApi) -> None:
        mine = await described_project(projects_api, OUTSIDER_OWNER + 10, {MEMBER: "viewer"},
                                       [1, 2, 3])
        theirs = await described_project(projects_api, OUTSIDER_OWNER, {}, [4])
        query = object_vector(4)[1]
        as_member = await object_search(projects_api, MEMBER, descriptor=query,
                                        descriptor_set_version="1", limit=10)
        as_owner = await object_search(projects_api, OUTSIDER_OWNER, descriptor=query,
                                       descriptor_set_version="1")
        as_admin = await object_search(projects_api, ADMIN, descriptor=query,
                                       descriptor_set_version="1", limit=10)
        hidden = await object_search(projects_api, MEMBER, expect=404, object_id=theirs[0])
        assert sorted(item["object_id"] for item in as_member["items"]) == sorted(mine)
        assert as_member["candidates"] == 3
        assert [item["object_id"] for item in as_owner["items"]] == theirs
        assert as_owner["items"][0]["similarity"] == pytest.approx(1.0, abs=1e-5)
        assert as_admin["items"][0]["object_id"] == theirs[0]
        assert as_admin["candidates"] == 4
        assert hidden["type"].endswith("/object-not-found")

    async def test_an_object_as_the_query_ranks_by_its_image_part_and_is_left_out(
            self, projects_api: ProjectsApi) -> None:
        ids = await described_project(projects_api, MEMBER, {}, [1, 2, 3])
        by_id = await object_search(projects_api, MEMBER, object_id=ids[0])
        by_vector = await object_search(projects_api, MEMBER, descriptor=object_vector(1)[1],
                                        descriptor_set_version="1")
        item = by_vector["items"][0]
        assert item["object_id"] == ids[0] and item["similarity"] == pytest.approx(1.0, abs=1e-5)
        assert item["url"] == f"/api/v1/objects/{ids[0]}"
        assert item["thumbnail_url"] == f"/api/v1/objects/{ids[0]}/crop.png"
        assert item["project_id"] >= 1
        assert [i["object_id"] for i in by_id["items"]] == [
            i["object_id"] for i in by_vector["items"][1:]]

    async def test_a_descriptor_of_another_set_is_a_422(self, projects_api: ProjectsApi) -> None:
        answer = await object_search(projects_api, MEMBER, expect=422, descriptor=[1.0] * 48,
                                     descriptor_set_version="object-1")
        assert "never compared" in answer["detail"]


class TestMemberObjectCache:
    async def test_a_write_after_a_cached_search_is_seen_by_the_next(
            self, projects_api: ProjectsApi) -> None:
        client = projects_api
        query = {"descriptor": object_vector(1)[1], "descriptor_set_version": "1", "limit": 100}

        async def found() -> list[int]:
            body = await object_search(client, MEMBER, **query)
            return sorted(item["object_id"] for item in body["items"])

        mine = await described_project(client, MEMBER, {}, [1, 2])
        assert await found() == mine
        project = await client.project(OUTSIDER_OWNER, {})
        body = await client.upload(project["id"], [("image", ("f.png", client.png(seed=5)))],
                                   user=OUTSIDER_OWNER)
        frame = body["imported"][0]["id"]
        theirs = client.add_objects(frame, [
            replace(client.new_object(1), descriptor=object_vector(3)[0],
                    descriptor_version=OBJECT_DESCRIPTOR_VERSION)])
        assert await found() == mine  # not a member yet
        added = await client.http.put(f"/api/v1/projects/{project['id']}/members/{MEMBER}",
                                      json={"role": "viewer"},
                                      headers=client.as_user(OUTSIDER_OWNER))
        assert added.status_code == 201, added.text
        assert await found() == sorted(mine + theirs)
        more = client.add_objects(frame, [
            replace(client.new_object(rank), descriptor=object_vector(rank + 10)[0],
                    descriptor_version=OBJECT_DESCRIPTOR_VERSION) for rank in (1, 2)])
        assert await found() == sorted(mine + more)  # the frame's objects were replaced
        removed = await client.http.delete(f"/api/v1/projects/{project['id']}/members/{MEMBER}",
                                           headers=client.as_user(OUTSIDER_OWNER))
        assert removed.status_code == 204
        assert await found() == mine

    async def test_a_member_s_projects_are_read_only_when_their_rows_change(
            self, projects_api: ProjectsApi) -> None:
        client = projects_api
        first = await described_project(client, MEMBER, {}, [1, 2])
        second = await described_project(client, OUTSIDER_OWNER, {MEMBER: "viewer"}, [3])
        engine = build_engine(client.database_url)
        cache = ProjectVectorCache(max_vectors=1000)

        def scope(member: int | None) -> Any:
            with build_sessionmaker(engine)() as session:
                return cache.member_vectors(member, OBJECT_DESCRIPTOR_VERSION, DIMENSIONS,
                                            SqlObjectDescriptorRepository(session))

        try:
            assert sorted(scope(MEMBER).object_ids.tolist()) == sorted(first + second)
            assert cache.loads == 2  # one read per project
            assert sorted(scope(None).object_ids.tolist()) == sorted(first + second)
            assert cache.loads == 2  # the admin's scope is made of the same projects' entries
            third = await described_project(client, OUTSIDER_OWNER, {}, [4])
            assert sorted(scope(None).object_ids.tolist()) == sorted(first + second + third)
            assert cache.loads == 3
            assert sorted(scope(MEMBER).object_ids.tolist()) == sorted(first + second)
            assert cache.loads == 3
        finally:
            engine.dispose()

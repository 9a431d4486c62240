"""``POST /images/search`` with ``sources`` (issue 14): scans and objects asked of classify over
real HTTP (a stand-in classify on a local port that records what it is sent), with the caller's
token and the query's descriptor (the selection's alone), merged by similarity; classify down is
a 503, its refusals are clear problems, an unknown source is a 422."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from PIL import Image

from specimen_imaging import similarity
from specimen_imaging.scenes import scene
from specimen_segment.domain.superpixels import SlicParams, select_superpixels, slic_labels

SEARCH = "/api/v1/images/search"


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def scan_item(scan_id: int, score: float) -> dict[str, Any]:
    url = f"/api/v1/scans/{scan_id}"
    return {"scan_id": scan_id, "similarity": score, "hospital": "general", "patient_ref": None,
            "label": "healthy", "probability": 0.9, "true_label": None, "media_type": "image/png",
            "created_at": "2026-12-07T10:00:00.000Z", "url": url, "content_url": f"{url}/image",
            "thumbnail_url": f"{url}/image?output=png"}


def object_item(object_id: int, score: float) -> dict[str, Any]:
    url = f"/api/v1/objects/{object_id}"
    return {"object_id": object_id, "project_id": 3, "similarity": score, "frame_id": 4,
            "category": "copepod", "probability": 0.8, "status": "predicted", "file_name": "f.png",
            "rank": 1, "url": url, "crop_url": f"{url}/crop.png", "thumbnail_url": f"{url}/crop.png"}


class StandIn:
    """A classify stand-in: ``answers[path] = (status, body)``; ``seen`` what it was sent."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, dict[str, Any]]] = {}
        self.seen: list[tuple[str, str, dict[str, Any]]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.seen.append((self.path, self.headers.get("Authorization", ""), body))
                status, answer = stand_in.answers.get(self.path, (404, {"detail": "no route"}))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def classify() -> Iterator[StandIn]:
    stand_in = StandIn()
    thread = threading.Thread(target=stand_in.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        stand_in.server.shutdown()
        stand_in.server.server_close()


@pytest.fixture
async def client(start_app: Any, classify: StandIn) -> AsyncIterator[Any]:
    async with start_app(classify_url=classify.url) as http:
        yield http


async def search(http: Any, headers: dict[str, str], expect: int = 200, **kwargs: Any) -> Any:
    response = await http.post(SEARCH, headers=headers, **kwargs)
    assert response.status_code == expect, response.text
    return response.json()


class TestMerged:
    async def test_library_scans_and_objects_merge_by_similarity_into_one_top_k(
            self, client: Any, classify: StandIn, auth: Any) -> None:
        headers = auth()
        pictures = [scene(kind, "sand", 5).pixels for kind in ("red-discs", "yellow-star")]
        for i, pixels in enumerate(pictures):
            stored = await client.post("/api/v1/images", files={"image": ("p.png", png(pixels))},
                                       data={"name": f"p{i}.png"}, headers=headers)
            assert stored.status_code == 201, stored.text
        classify.answers["/api/v1/scans/search"] = (200, {"items": [
            scan_item(11, 0.999), scan_item(12, -0.5)], "candidates": 2,
            "descriptor_set_version": "1"})
        classify.answers["/api/v1/objects/search"] = (200, {"items": [
            object_item(21, 0.2)], "candidates": 1, "descriptor_set_version": "1"})
        answer = await search(client, headers, files={"image": ("q.png", png(pictures[0]))},
                              data={"sources": "library,scans,objects", "limit": "4"})
        kinds = [(item["kind"], item.get("scan_id") or item.get("object_id")
                  or item.get("name")) for item in answer["items"]]
        scores = [item["similarity"] for item in answer["items"]]
        assert kinds[0] == ("library", "p0.png")  # the same picture: 1.0
        assert kinds[1] == ("scan", 11)
        assert ("object", 21) in kinds and len(kinds) == 4
        assert scores == sorted(scores, reverse=True)
        assert answer["items"][1]["url"] == "/api/v1/scans/11"
        # Each source was asked for the whole top-k, as the caller, with one descriptor.
        assert [(path, token) for path, token, _ in classify.seen] == [
            ("/api/v1/scans/search", headers["Authorization"]),
            ("/api/v1/objects/search", headers["Authorization"])]
        assert all(body["limit"] == 4 and body["descriptor_set_version"] == "1"
                   for _, _, body in classify.seen)
        assert classify.seen[0][2]["descriptor"] == classify.seen[1][2]["descriptor"]

    async def test_scans_only_leaves_the_library_out(self, client: Any, classify: StandIn,
                                                     auth: Any) -> None:
        headers = auth()
        pixels = scene("red-discs", "sand", 5).pixels
        await client.post("/api/v1/images", files={"image": ("p.png", png(pixels))},
                          headers=headers)
        classify.answers["/api/v1/scans/search"] = (200, {"items": [scan_item(11, 0.1)],
                                                          "candidates": 1,
                                                          "descriptor_set_version": "1"})
        answer = await search(client, headers, json={
            "image": _b64(pixels), "sources": ["scans"]})
        assert [item["kind"] for item in answer["items"]] == ["scan"]
        assert [path for path, _, _ in classify.seen] == ["/api/v1/scans/search"]


def _b64(pixels: np.ndarray) -> str:
    import base64
    return base64.b64encode(png(pixels)).decode("ascii")


class TestSelectionForScans:
    async def test_the_descriptor_sent_is_the_selected_region_s_alone(
            self, client: Any, classify: StandIn, auth: Any) -> None:
        headers = auth()
        query = scene("green-checker", "gradient", 21)
        stored = await client.post("/api/v1/images", files={"image": ("q.png", png(query.pixels))},
                                   headers=headers)
        image_id = stored.json()["id"]
        classify.answers["/api/v1/scans/search"] = (200, {"items": [], "candidates": 0,
                                                          "descriptor_set_version": "1"})
        slic = {"n_segments": 150, "compactness": 10.0}
        labels = slic_labels(query.pixels, SlicParams(**slic))
        ids = [int(i) for i in np.unique(labels) if query.mask[labels == i].mean() > 0.5]
        await search(client, headers, json={"image_id": image_id, "ids": ids, **slic,
                                            "sources": ["scans"]})
        await search(client, headers, json={"image_id": image_id, "sources": ["scans"]})
        _, region = select_superpixels(query.pixels, labels, ids)
        expected = similarity.describe_working_copy(query.pixels, region)
        whole = similarity.describe_working_copy(query.pixels)
        sent_selection = np.array(classify.seen[0][2]["descriptor"], np.float32)
        sent_whole = np.array(classify.seen[1][2]["descriptor"], np.float32)
        assert np.allclose(sent_selection, expected, atol=1e-6)
        assert np.allclose(sent_whole, whole, atol=1e-6)
        assert not np.allclose(sent_selection, sent_whole, atol=1e-2)


class TestFailures:
    async def test_classify_down_is_a_503_naming_it_never_a_library_only_answer(
            self, start_app: Any, auth: Any) -> None:
        async with start_app(classify_url="http://127.0.0.1:9") as http:
            answer = await http.post(SEARCH, headers=auth(), json={
                "image": _b64(scene("red-discs", "sand", 5).pixels),
                "sources": ["library", "scans"]})
        assert answer.status_code == 503
        assert answer.json()["type"].endswith("/classify-unavailable")
        assert "classify" in answer.json()["detail"]
        assert answer.headers["Retry-After"] == "5"

    async def test_no_classify_configured_is_a_503_too(self, start_app: Any, auth: Any) -> None:
        async with start_app() as http:
            answer = await http.post(SEARCH, headers=auth(), json={
                "image": _b64(scene("red-discs", "sand", 5).pixels), "sources": ["objects"]})
            library = await http.post(SEARCH, headers=auth(), json={
                "image": _b64(scene("red-discs", "sand", 5).pixels)})
        assert answer.status_code == 503
        assert "SPECIMEN_SEGMENT_CLASSIFY_URL" in answer.json()["detail"]
        assert library.status_code == 200

    async def test_a_classify_refusal_is_a_clear_problem(self, client: Any, classify: StandIn,
                                                         auth: Any) -> None:
        classify.answers["/api/v1/scans/search"] = (422, {"detail": "limit=500 is out of range"})
        classify.answers["/api/v1/objects/search"] = (401, {"detail": "token revoked"})
        body = {"image": _b64(scene("red-discs", "sand", 5).pixels)}
        refused = await search(client, auth(), expect=422, json={**body, "sources": ["scans"]})
        revoked = await search(client, auth(), expect=401, json={**body, "sources": ["objects"]})
        assert refused["type"].endswith("/classify-refused")
        assert "limit=500 is out of range" in refused["detail"]
        assert "token revoked" in revoked["detail"]

    @pytest.mark.parametrize("sources", [["library", "photos"], "scans,photos", []])
    async def test_an_unknown_or_no_source_is_a_422(self, client: Any, classify: StandIn,
                                                    auth: Any, sources: Any) -> None:
        answer = await search(client, auth(), expect=422, json={
            "image": _b64(scene("red-discs", "sand", 5).pixels), "sources": sources})
        assert "sources" in json.dumps(answer)
        assert classify.seen == []

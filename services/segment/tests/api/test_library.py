from __future__ import annotations

import asyncio
import base64
import io
import re
from typing import Any

import numpy as np
import pytest
from PIL import Image

from specimen_kit.problems import PROBLEM_JSON

IMAGES = "/api/v1/images"
FORMATS = ["png", "jpeg", "gif", "tiff", "bmp", "webp"]


def _png_bytes() -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.full((4, 4), 128, np.uint8)).save(out, "PNG")
    return out.getvalue()


def _pixels(data: bytes) -> Any:
    return np.asarray(Image.open(io.BytesIO(data)))


class TestUpload:
    @pytest.mark.parametrize("format", FORMATS)
    async def test_each_format_is_kept_as_uploaded(self, api: Any, make_image: Any,
                                                   format: str) -> None:
        data = make_image(format, (7, 5))
        image = await api.upload(data, name=f"scan.{format}")
        assert set(image) == {"id", "name", "format", "width", "height", "channels",
                              "bit_depth", "bytes", "created_at", "updated_at"}
        assert (image["name"], image["format"], image["width"], image["height"],
                image["bytes"]) == (f"scan.{format}", format, 7, 5, len(data))
        original = await api.http.get(f"{IMAGES}/{image['id']}/content", headers=api.headers)
        assert original.status_code == 200
        assert original.content == data
        assert original.headers["content-type"] == f"image/{format}"

    async def test_layout_of_gray_and_rgba(self, api: Any, make_image: Any) -> None:
        gray = await api.upload(make_image("png", (3, 2), "L"))
        rgba = await api.upload(make_image("png", (3, 2), "RGBA"))
        assert (gray["channels"], gray["bit_depth"]) == (1, 8)
        assert (rgba["channels"], rgba["bit_depth"]) == (4, 8)

    async def test_sixteen_bit_gray_reports_its_depth(self, api: Any) -> None:
        out = io.BytesIO()
        Image.fromarray(np.full((2, 3), 40000, np.uint16)).save(out, format="PNG")
        image = await api.upload(out.getvalue())
        assert (image["channels"], image["bit_depth"]) == (1, 16)

    async def test_name_defaults_to_the_file_name(self, api: Any) -> None:
        image = await api.upload(name=None)
        assert image["name"] == "upload.png"

    async def test_name_is_trimmed(self, api: Any) -> None:
        image = await api.upload(name="  plankton 12  ")
        assert image["name"] == "plankton 12"

    @pytest.mark.parametrize("prefix", ["", "data:image/png;base64,"])
    async def test_json_base64_and_data_url(self, api: Any, make_image: Any, prefix: str) -> None:
        data = make_image("png")
        response = await api.http.post(IMAGES, headers=api.headers, json={
            "name": "from json", "image": prefix + base64.b64encode(data).decode()})
        assert response.status_code == 201, response.text
        assert response.json()["bytes"] == len(data)

    async def test_json_without_name_gets_a_generated_one(self, api: Any, make_image: Any) -> None:
        response = await api.http.post(IMAGES, headers=api.headers, json={
            "image": base64.b64encode(make_image("png")).decode()})
        assert response.status_code == 201
        assert response.json()["name"].startswith("image-")

    @pytest.mark.parametrize(("data", "slug"), [
        (b"not an image at all", "unreadable-image"),
        (b"", "unreadable-image"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "unreadable-image"),
    ])
    async def test_unreadable_upload_is_a_422_problem(self, api: Any, data: bytes,
                                                      slug: str) -> None:
        response = await api.http.post(IMAGES, headers=api.headers,
                                       files={"file": ("x.png", data)})
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["type"].endswith(slug)

    async def test_truncated_jpeg_is_a_422(self, api: Any, make_image: Any) -> None:
        data = make_image("jpeg", (64, 64))
        response = await api.http.post(IMAGES, headers=api.headers,
                                       files={"file": ("x.jpg", data[: len(data) // 2])})
        assert response.status_code == 422
        assert response.json()["type"].endswith("unreadable-image")

    async def test_image_over_the_pixel_limit_is_refused_from_its_header(
            self, start_app: Any, auth: Any, make_image: Any,
            monkeypatch: pytest.MonkeyPatch) -> None:
        # The app hands its limit to the decoders' process-wide guards; restore them afterwards.
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)
        monkeypatch.setenv("OPENCV_IO_MAX_IMAGE_PIXELS", "40000000")
        async with start_app(max_image_pixels=100) as http:
            response = await http.post(IMAGES, headers=auth(),
                                       files={"file": ("big.png", make_image("png", (20, 10)))})
            listed = (await http.get(IMAGES, headers=auth())).json()
        assert response.status_code == 413
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "200 pixels, more than the limit of 100" in response.json()["detail"]
        assert listed["total"] == 0

    @pytest.mark.parametrize(("body", "status", "slug", "needle"), [
        ({"image": "***not base64***"}, 422, "unreadable-image", "not valid base64"),
        ({"image": "data:text/plain;base64,aGVsbG8="}, 415, "unsupported-format", "text/plain"),
        ({"image": "data:image/png,rawbytes"}, 422, "unreadable-image", "';base64'"),
    ])
    async def test_bad_json_image_is_a_4xx_that_says_why(
        self, api: Any, body: dict[str, str], status: int, slug: str, needle: str
    ) -> None:
        """Same answers as the algorithm routes: one decoder reads base64 and data URLs."""
        response = await api.http.post(IMAGES, headers=api.headers, json=body)
        assert response.status_code == status
        assert response.json()["type"].endswith(slug)
        assert needle in response.json()["detail"]

    async def test_json_with_unknown_field_is_a_validation_problem(self, api: Any) -> None:
        response = await api.http.post(IMAGES, headers=api.headers,
                                       json={"image": "AAAA", "colour": "red"})
        assert response.status_code == 422
        assert "colour is not a parameter" in response.json()["detail"]

    # Issue 9's corpus: unknown fields and query parameters were ignored by the upload (201).
    @pytest.mark.parametrize("how", ["form", "query", "raw+query"])
    async def test_unknown_field_or_query_parameter_is_a_422(self, api: Any, how: str) -> None:
        png = _png_bytes()
        if how == "form":
            response = await api.http.post(IMAGES, headers=api.headers, data={"colour": "red"},
                                           files={"image": ("a.png", png, "image/png")})
        elif how == "query":
            response = await api.http.post(IMAGES, headers=api.headers, params={"colour": "red"},
                                           files={"image": ("a.png", png, "image/png")})
        else:
            response = await api.http.post(IMAGES, params={"colour": "red"}, content=png,
                                           headers={**api.headers, "content-type": "image/png"})
        assert response.status_code == 422, response.text
        assert "colour is not a parameter" in response.json()["detail"]

    @pytest.mark.parametrize("field", ["image", "file"])
    async def test_the_image_field_as_on_every_route_or_its_older_name(self, api: Any,
                                                                       field: str) -> None:
        response = await api.http.post(IMAGES, headers=api.headers, data={"name": "n"},
                                       files={field: ("a.png", _png_bytes(), "image/png")})
        assert response.status_code == 201, response.text
        assert response.json()["name"] == "n"

    async def test_raw_image_body_with_its_name_in_the_query(self, api: Any) -> None:
        response = await api.http.post(IMAGES, params={"name": "raw one"}, content=_png_bytes(),
                                       headers={**api.headers, "content-type": "image/png"})
        assert response.status_code == 201, response.text
        assert response.json()["name"] == "raw one"

    # Issue 10: the library takes an image exactly as the algorithm routes do.
    @pytest.mark.parametrize("form", ["multipart image", "multipart file", "json base64",
                                      "json data url", "raw"])
    async def test_each_of_the_three_forms_keeps_the_same_bytes(self, api: Any,
                                                                form: str) -> None:
        png = _png_bytes()
        text = base64.b64encode(png).decode()
        if form.startswith("multipart"):
            field = form.split()[1]
            response = await api.http.post(IMAGES, headers=api.headers,
                                           files={field: ("a.png", png, "image/png")})
        elif form.startswith("json"):
            prefix = "data:image/png;base64," if form.endswith("url") else ""
            response = await api.http.post(IMAGES, headers=api.headers,
                                           json={"image": prefix + text})
        else:
            response = await api.http.post(IMAGES, content=png,
                                           headers={**api.headers, "content-type": "image/png"})
        assert response.status_code == 201, response.text
        content = await api.http.get(f"{IMAGES}/{response.json()['id']}/content",
                                     headers=api.headers)
        assert content.content == png

    async def test_malformed_json_is_a_400(self, api: Any) -> None:
        response = await api.http.post(IMAGES, headers={
            **api.headers, "content-type": "application/json"}, content=b"{nope")
        assert response.status_code == 400

    async def test_form_without_a_file_is_a_422(self, api: Any) -> None:
        response = await api.http.post(IMAGES, headers=api.headers, data={"name": "x"},
                                       files={"other": ("x.png", b"1")})
        assert response.status_code == 422
        assert "other must be a form field" in response.json()["detail"]

    async def test_form_without_any_file_names_the_image_field(self, api: Any) -> None:
        response = await api.http.post(IMAGES, headers=api.headers, data={"name": "x"},
                                       files={"name2": (None, "y")})
        assert response.status_code == 422
        assert "no field 'image'" in response.json()["detail"]

    async def test_other_content_type_is_a_415(self, api: Any) -> None:
        response = await api.http.post(IMAGES, headers={**api.headers,
                                                        "content-type": "text/plain"},
                                       content=b"hello")
        assert response.status_code == 415
        assert response.headers["content-type"] == PROBLEM_JSON

    @pytest.mark.parametrize(("name", "needle"), [("   ", "empty"), ("a" * 201, "201 characters"),
                                                  ("line\nbreak", "control characters")])
    async def test_bad_name_is_a_422(self, api: Any, name: str, needle: str) -> None:
        response = await api.http.post(IMAGES, headers=api.headers, json={
            "name": name, "image": base64.b64encode(b"x").decode()})
        assert response.status_code == 422
        assert response.json()["type"].endswith("invalid-image-name")
        assert needle in response.json()["detail"]

    async def test_without_a_token_is_401(self, api: Any, make_image: Any) -> None:
        response = await api.http.post(IMAGES, files={"file": ("x.png", make_image("png"))})
        assert response.status_code == 401


class TestListing:
    async def test_newest_first_and_paged(self, api: Any, make_image: Any) -> None:
        ids = [(await api.upload(make_image("png", seed=i), name=f"n{i}"))["id"]
               for i in range(5)]
        first = (await api.http.get(IMAGES, params={"limit": 2}, headers=api.headers)).json()
        rest = (await api.http.get(IMAGES, params={"limit": 2, "offset": 2},
                                   headers=api.headers)).json()
        assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
        assert [item["id"] for item in first["items"]] == ids[::-1][:2]
        assert [item["id"] for item in rest["items"]] == ids[::-1][2:4]

    async def test_empty_library(self, api: Any) -> None:
        page = (await api.http.get(IMAGES, headers=api.headers)).json()
        assert page == {"items": [], "total": 0, "limit": 50, "offset": 0}

    # Issue 9, finding 11: an offset past 2**63 was a 500 (OverflowError) at the driver.
    @pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"offset": -1},
                                        {"offset": 10**9 + 1}, {"offset": 2**63}])
    async def test_out_of_range_paging_is_a_422(self, api: Any, params: dict[str, int]) -> None:
        response = await api.http.get(IMAGES, params=params, headers=api.headers)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    async def test_the_largest_paging_values_are_answered(self, api: Any) -> None:
        response = await api.http.get(IMAGES, params={"limit": 500, "offset": 10**9},
                                      headers=api.headers)
        assert response.json() == {"items": [], "total": 0, "limit": 500, "offset": 10**9}


class TestSortAndSearch:
    async def _names(self, api: Any, **params: Any) -> list[str]:
        response = await api.http.get(IMAGES, params=params, headers=api.headers)
        assert response.status_code == 200, response.text
        return [item["name"] for item in response.json()["items"]]

    async def test_sort_by_name_bytes_and_age(self, api: Any, make_image: Any) -> None:
        for name, size in (("b", (4, 4)), ("C", (30, 30)), ("a", (12, 12))):
            await api.upload(make_image("png", size), name=name)
        assert await self._names(api) == ["a", "C", "b"]
        assert await self._names(api, sort="created_at") == ["b", "C", "a"]
        assert await self._names(api, sort="name") == ["a", "b", "C"]
        assert await self._names(api, sort="-name") == ["C", "b", "a"]
        assert await self._names(api, sort="-bytes") == ["C", "a", "b"]

    async def test_name_search_ignores_case_and_takes_wildcards_literally(self, api: Any) -> None:
        for name in ("Reef 100%", "reef_2", "coral"):
            await api.upload(name=name)
        assert sorted(await self._names(api, q="REEF")) == ["Reef 100%", "reef_2"]
        assert await self._names(api, q="%") == ["Reef 100%"]
        assert await self._names(api, q="_") == ["reef_2"]
        page = (await api.http.get(IMAGES, params={"q": "reef", "limit": 1},
                                   headers=api.headers)).json()
        assert (page["total"], len(page["items"])) == (2, 1)

    @pytest.mark.parametrize("params", [{"sort": "size"}, {"sort": "+name"}, {"q": ""}])
    async def test_unknown_sort_or_empty_search_is_a_422(self, api: Any,
                                                         params: dict[str, str]) -> None:
        response = await api.http.get(IMAGES, params=params, headers=api.headers)
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM_JSON
        if "sort" in params:
            assert "-created_at" in response.text and "bytes" in response.text


class TestUsage:
    async def test_counts_images_and_bytes_against_the_quota(self, start_app: Any, auth: Any,
                                                             make_image: Any) -> None:
        data = make_image("png", (9, 9))
        async with start_app(quota_images=5, quota_bytes=10_000) as http:
            empty = (await http.get(f"{IMAGES}/usage", headers=auth())).json()
            for _ in range(2):
                await http.post(IMAGES, headers=auth(), files={"image": ("a.png", data)})
            mine = (await http.get(f"{IMAGES}/usage", headers=auth())).json()
            theirs = (await http.get(f"{IMAGES}/usage", headers=auth(sub="8"))).json()
        assert empty == {"images": {"used": 0, "limit": 5}, "bytes": {"used": 0, "limit": 10_000}}
        assert mine == {"images": {"used": 2, "limit": 5},
                        "bytes": {"used": 2 * len(data), "limit": 10_000}}
        assert theirs["images"]["used"] == 0


class TestMetadataAndContent:
    async def test_timestamps_are_rfc3339_utc_with_z(self, api: Any) -> None:
        image = await api.upload()
        for moment in (image["created_at"], image["updated_at"]):
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", moment), moment

    async def test_accept_chooses_the_format(self, api: Any, make_image: Any) -> None:
        image = await api.upload(make_image("png", (5, 3)))
        url = f"{IMAGES}/{image['id']}/content"
        webp = await api.http.get(url, headers={**api.headers, "Accept": "image/webp"})
        anything = await api.http.get(url, headers={**api.headers, "Accept": "image/*"})
        assert webp.headers["content-type"] == "image/webp"
        assert anything.headers["content-type"] == "image/png"
        assert "Accept" in webp.headers["vary"]

    async def test_json_carries_the_original(self, api: Any, make_image: Any) -> None:
        data = make_image("jpeg", (5, 3))
        image = await api.upload(data, name="x.jpg")
        for how in ({"params": {"output": "json"}}, {"headers": {"Accept": "application/json"}}):
            response = await api.http.get(f"{IMAGES}/{image['id']}/content", **{
                "params": how.get("params"), "headers": {**api.headers, **how.get("headers", {})}})
            body = response.json()
            assert body["image"] == {"media_type": "image/jpeg", "width": 5, "height": 3,
                                     "data": base64.b64encode(data).decode()}
            assert (body["id"], body["name"]) == (image["id"], "x.jpg")

    async def test_an_accept_nothing_satisfies_is_a_406(self, api: Any) -> None:
        image = await api.upload()
        response = await api.http.get(f"{IMAGES}/{image['id']}/content",
                                      headers={**api.headers, "Accept": "text/csv"})
        assert response.status_code == 406
        assert response.headers["content-type"] == PROBLEM_JSON

    async def test_quality_makes_a_smaller_jpeg_and_needs_a_lossy_format(
            self, api: Any, make_image: Any) -> None:
        image = await api.upload(make_image("png", (64, 64)))
        url = f"{IMAGES}/{image['id']}/content"
        low = await api.http.get(url, params={"output": "jpeg", "quality": 5}, headers=api.headers)
        high = await api.http.get(url, params={"output": "jpeg", "quality": 100},
                                  headers=api.headers)
        png = await api.http.get(url, params={"output": "png", "quality": 5}, headers=api.headers)
        assert len(low.content) < len(high.content)
        assert png.status_code == 422
        assert "quality applies to output jpeg or webp only" in png.json()["detail"]

    # Issue 10: ?format=jpeg was silently answered with the PNG. The kit's one query rule
    # (specimen_kit.query_parameters) refuses it; skipped where the kit does not have it yet.
    async def test_format_is_not_an_alias_of_output(self, api: Any) -> None:
        pytest.importorskip("specimen_kit.query_parameters")
        image = await api.upload()
        response = await api.http.get(f"{IMAGES}/{image['id']}/content",
                                      params={"format": "jpeg"}, headers=api.headers)
        assert response.status_code == 422


    async def test_metadata_is_what_the_upload_answered(self, api: Any) -> None:
        image = await api.upload()
        fetched = await api.http.get(f"{IMAGES}/{image['id']}", headers=api.headers)
        assert fetched.json() == image

    async def test_download_names_the_file(self, api: Any) -> None:
        image = await api.upload(name="coral reef.png")
        response = await api.http.get(f"{IMAGES}/{image['id']}/content", headers=api.headers)
        assert response.headers["content-disposition"] == (
            "attachment; filename=\"coral reef.png\"; filename*=UTF-8''coral%20reef.png")

    async def test_non_ascii_name_has_an_ascii_fallback(self, api: Any) -> None:
        image = await api.upload(name="été.png")
        response = await api.http.get(f"{IMAGES}/{image['id']}/content",
                                      params={"output": "jpeg"}, headers=api.headers)
        assert response.headers["content-disposition"] == (
            "attachment; filename=\"_t_.jpg\"; filename*=UTF-8''%C3%A9t%C3%A9.jpg")

    @pytest.mark.parametrize("format", ["bmp", "tiff", "png", "webp"])
    async def test_lossless_conversion_keeps_the_pixels(self, api: Any, make_image: Any,
                                                       format: str) -> None:
        data = make_image("png", (5, 3))
        image = await api.upload(data)
        response = await api.http.get(f"{IMAGES}/{image['id']}/content",
                                      params={"output": format}, headers=api.headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == f"image/{format}"
        assert Image.open(io.BytesIO(response.content)).format == format.upper()
        assert np.array_equal(_pixels(response.content), _pixels(data))

    @pytest.mark.parametrize("format", ["jpeg", "gif"])
    async def test_lossy_conversion_gives_that_format(self, api: Any, make_image: Any,
                                                      format: str) -> None:
        image = await api.upload(make_image("png", (5, 3), "RGBA"))
        response = await api.http.get(f"{IMAGES}/{image['id']}/content",
                                      params={"output": format}, headers=api.headers)
        assert response.headers["content-type"] == f"image/{format}"
        assert Image.open(io.BytesIO(response.content)).size == (5, 3)

    async def test_unknown_format_is_a_422_naming_the_choices(self, api: Any) -> None:
        image = await api.upload()
        response = await api.http.get(f"{IMAGES}/{image['id']}/content",
                                      params={"output": "svg"}, headers=api.headers)
        assert response.status_code == 422
        assert "png, jpeg, gif, webp, tiff, bmp, json" in response.json()["detail"]

    async def test_unknown_or_malformed_id(self, api: Any) -> None:
        missing = await api.http.get(f"{IMAGES}/00000000-0000-4000-8000-000000000000",
                                     headers=api.headers)
        malformed = await api.http.get(f"{IMAGES}/12", headers=api.headers)
        assert missing.status_code == 404
        assert missing.json()["type"].endswith("image-not-found")
        assert malformed.status_code == 422


class TestRename:
    async def test_rename_changes_name_and_updated_at(self, api: Any) -> None:
        image = await api.upload(name="old")
        response = await api.http.patch(f"{IMAGES}/{image['id']}", json={"name": " new "},
                                        headers=api.headers)
        assert response.status_code == 200
        renamed = response.json()
        assert renamed["name"] == "new"
        assert renamed["created_at"] == image["created_at"]
        assert renamed["updated_at"] > image["updated_at"]
        fetched = (await api.http.get(f"{IMAGES}/{image['id']}", headers=api.headers)).json()
        assert fetched["name"] == "new"

    async def test_empty_name_or_extra_field_is_a_422(self, api: Any) -> None:
        image = await api.upload()
        empty = await api.http.patch(f"{IMAGES}/{image['id']}", json={"name": ""},
                                     headers=api.headers)
        extra = await api.http.patch(f"{IMAGES}/{image['id']}", json={"name": "a", "x": 1},
                                     headers=api.headers)
        assert (empty.status_code, extra.status_code) == (422, 422)


class TestDelete:
    # Issue 9, finding 12: 6 of 15 concurrent renames were a 500 (StaleDataError) while the
    # image was deleted. The handlers run in the threadpool: the requests really overlap.
    async def test_renames_racing_a_delete_are_200_or_404(self, api: Any) -> None:
        for _ in range(3):
            image = await api.upload()
            url = f"{IMAGES}/{image['id']}"
            renames = [api.http.patch(url, json={"name": f"n{i}"}, headers=api.headers)
                       for i in range(15)]
            answers = await asyncio.gather(*renames[:7], api.http.delete(url, headers=api.headers),
                                           *renames[7:])
            statuses = {response.status_code for response in answers}
            assert statuses <= {200, 204, 404}, [r.text for r in answers if r.status_code >= 500]

    async def test_segmentations_racing_a_delete_are_201_or_404(self, api: Any) -> None:
        """Regression (probing concurrency through the gateway): a result kept while its image
        was being deleted met the foreign key at flush: 5 of 6 were a 500."""
        for _ in range(3):
            image = await api.upload()
            url = f"{IMAGES}/{image['id']}"
            kept = [api.http.post(f"{url}/segmentations", json={"operation": "threshold"},
                                  headers=api.headers) for _ in range(8)]
            answers = await asyncio.gather(*kept[:3], api.http.delete(url, headers=api.headers),
                                           *kept[3:])
            statuses = {response.status_code for response in answers}
            assert statuses <= {201, 204, 404, 410}, [r.text for r in answers if r.status_code >= 500]

    async def test_delete_removes_the_row_and_the_blob(self, api: Any, tmp_path: Any) -> None:
        image = await api.upload()
        kept = await api.upload()
        blobs = tmp_path / "segment-blobs"
        assert len(list(blobs.glob("??/*"))) == 2
        response = await api.http.delete(f"{IMAGES}/{image['id']}", headers=api.headers)
        assert response.status_code == 204
        assert response.content == b""
        assert (await api.http.get(f"{IMAGES}/{image['id']}",
                                   headers=api.headers)).status_code == 404
        assert len(list(blobs.glob("??/*"))) == 1
        assert (await api.http.get(IMAGES, headers=api.headers)).json()["items"][0]["id"] == (
            kept["id"])

    async def test_deleting_twice_is_a_404(self, api: Any) -> None:
        image = await api.upload()
        await api.http.delete(f"{IMAGES}/{image['id']}", headers=api.headers)
        again = await api.http.delete(f"{IMAGES}/{image['id']}", headers=api.headers)
        assert again.status_code == 404


class TestOwnership:
    @pytest.mark.parametrize(("sub", "role"), [("8", "technician"), ("9", "moderator"),
                                               ("1", "admin")])
    async def test_someone_else_gets_404_everywhere(self, api: Any, auth: Any, sub: str,
                                                    role: str) -> None:
        image = await api.upload()
        other = auth(sub=sub, role=role)
        base = f"{IMAGES}/{image['id']}"
        answers = [
            await api.http.get(base, headers=other),
            await api.http.get(f"{base}/content", headers=other),
            await api.http.patch(base, json={"name": "mine now"}, headers=other),
            await api.http.delete(base, headers=other),
            await api.http.get(f"{base}/segmentations", headers=other),
            await api.http.post(f"{base}/segmentations", json={"operation": "threshold"},
                                headers=other),
        ]
        assert [answer.status_code for answer in answers] == [404] * len(answers)
        assert all(a.headers["content-type"] == PROBLEM_JSON for a in answers)
        listed = (await api.http.get(IMAGES, headers=other)).json()
        assert listed["total"] == 0
        # Still there, unchanged, for its owner.
        mine = (await api.http.get(base, headers=api.headers)).json()
        assert mine["name"] == image["name"]

    async def test_same_user_with_another_role_sees_their_images(self, api: Any,
                                                                 auth: Any) -> None:
        image = await api.upload()
        response = await api.http.get(f"{IMAGES}/{image['id']}",
                                      headers=auth(sub="7", role="moderator"))
        assert response.status_code == 200


class TestOpenApi:
    async def test_the_library_documents_its_parameters_and_routes(self, api: Any) -> None:
        document = (await api.http.get("/openapi.json")).json()
        paths = document["paths"]

        def query(path: str) -> dict[str, Any]:
            return {p["name"]: p for p in paths[path]["get"]["parameters"] if p["in"] == "query"}

        listing = query(IMAGES)
        assert {"limit", "offset", "sort", "q"} <= set(listing)
        assert "-bytes" in listing["sort"]["schema"]["enum"]
        for path in (f"{IMAGES}/{{image_id}}/content",
                     f"{IMAGES}/{{image_id}}/segmentations/{{segmentation_id}}/content"):
            assert {"output", "quality"} == set(query(path))
            assert {"200", "406", "422"} <= set(paths[path]["get"]["responses"])
            assert "application/json" in paths[path]["get"]["responses"]["200"]["content"]
        assert "get" in paths[f"{IMAGES}/usage"]
        assert "delete" in paths[f"{IMAGES}/{{image_id}}/segmentations/{{segmentation_id}}"]

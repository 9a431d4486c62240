"""Similar-image search in the browser (issue 14): superpixels of an object picked in the
workbench find the library images with that object first, in a drawer whose results open a
metadata pop-up; the library's *Find similar*; another user's pictures never appear."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from specimen_classify.domain.synthetic_mri import mri_slice
from specimen_imaging.scenes import scene
from suite_support import PASSWORD, Actor, login

pytestmark = [pytest.mark.suite, pytest.mark.ui]

# What the workbench's superpixel form sends (its sigma field defaults to 0).
SUPERPIXELS = {"n_segments": "150", "compactness": "10", "sigma": "0"}
QUERY = scene("green-checker", "gradient", 21)


def png(pixels: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def object_ids(gateway: httpx.Client, headers: dict[str, str]) -> list[int]:
    """The superpixels (as the service draws them for the workbench) mostly inside the object."""
    answer = gateway.post("/api/v1/segment/superpixels", headers=headers, data={
        **SUPERPIXELS, "labels_encoding": "base64", "output": "json"},
        files={"image": ("query.png", png(QUERY.pixels), "image/png")})
    assert answer.status_code == 200, answer.text
    shape = answer.json()["labels"]["shape"]
    labels = np.frombuffer(base64.b64decode(answer.json()["labels"]["data"]), "<u2").reshape(shape)
    return [int(i) for i in np.unique(labels) if QUERY.mask[labels == i].mean() > 0.5]


@pytest.fixture
def library(create_user: Callable[..., Actor], gateway: httpx.Client) -> dict[str, Any]:
    """A user whose library holds the query picture (a green checker on a gradient), the same
    object on three other backgrounds, and three other objects on the query's background; and
    another user who holds an identical copy of the query, which must never be found."""
    def upload(headers: dict[str, str], pixels: np.ndarray, name: str) -> str:
        stored = gateway.post("/api/v1/images", headers=headers,
                              files={"image": (name, png(pixels), "image/png")})
        assert stored.status_code == 201, stored.text
        return str(stored.json()["id"])

    user, other = create_user(), create_user()
    headers = {"Authorization": f"Bearer {login(gateway, user.email, PASSWORD)['access_token']}"}
    theirs = {"Authorization": f"Bearer {login(gateway, other.email, PASSWORD)['access_token']}"}
    foreign = {upload(theirs, QUERY.pixels, "theirs-query-copy.png"),
               upload(theirs, scene("green-checker", "sand", 30).pixels, "theirs-checker.png")}
    query = upload(headers, QUERY.pixels, "query.png")
    same_object = {upload(headers, scene("green-checker", background, 30 + i).pixels,
                          f"checker-on-{background}.png")
                   for i, background in enumerate(("sand", "noise-dark", "plain-light"))}
    same_background = {upload(headers, scene(kind, "gradient", 31 + 10 * i).pixels,
                              f"{kind}-on-gradient.png")
                       for i, kind in enumerate(("red-discs", "yellow-star", "purple-rings"))}
    return {"user": user, "headers": headers, "query": query, "same_object": same_object,
            "same_background": same_background, "foreign": foreign}


def ranked(page: Any) -> list[str]:
    return page.locator("#similar-results li").evaluate_all(
        "items => items.map(item => item.dataset.imageId)")


class TestSearchSimilar:
    def test_an_objects_superpixels_find_the_images_with_that_object_first(
        self, expect: Any, browser: Any, library: dict[str, Any], gateway: httpx.Client,
    ) -> None:
        page = browser.new_page()
        browser.sign_in(page, library["user"].email)
        page.goto(f"/segment?image={library['query']}")
        expect(page.locator("#source-status")).to_have_text("query.png: 128\u00d7128 pixels.")
        page.get_by_role("tab", name="Superpixels").click()
        panel = page.locator("#panel-superpixels")
        panel.get_by_label("About how many").fill(SUPERPIXELS["n_segments"])
        panel.get_by_role("button", name="Draw superpixels").click()
        expect(page.locator("#superpixel-canvas")).to_be_visible()

        # The user picks the object's superpixels: the first two with the mouse, the rest typed.
        ids = object_ids(gateway, library["headers"])
        assert len(ids) >= 3
        canvas = page.locator("#superpixel-canvas")
        box = canvas.bounding_box()
        assert box is not None
        rows, cols = np.nonzero(QUERY.mask)
        row, col = int(np.median(rows)), int(np.median(cols))
        canvas.click(position={"x": (col + 0.5) * box["width"] / 128,
                               "y": (row + 0.5) * box["height"] / 128})
        expect(page.locator("#selection-status")).to_have_text("1 superpixel selected.")
        ids_box = page.get_by_label("Selected superpixel ids (click the image, or type them)")
        ids_box.fill(",".join(map(str, ids)))
        ids_box.press("Enter")
        expect(page.locator("#selection-status")).to_have_text(f"{len(ids)} superpixels selected.")

        search = page.get_by_role("button", name="Search similar")
        search.click()
        drawer = page.get_by_role("dialog", name="Images like the selection in query.png")
        expect(drawer).to_be_visible()
        expect(drawer.locator("#similar-status")).to_contain_text("the most similar first")
        items = ranked(page)
        # The three pictures of the same object come first; the query itself is not an answer;
        # the other user's identical copy is never one.
        assert set(items[:3]) == library["same_object"], items
        assert set(items) == library["same_object"] | library["same_background"]
        assert library["query"] not in items and not set(items) & library["foreign"]
        scores = [float(s.rsplit("similarity ", 1)[1]) for s in
                  drawer.locator(".similar-text .meta").all_inner_texts()]
        assert scores == sorted(scores, reverse=True)
        thumbnails = drawer.locator(".similar-open img")
        expect(thumbnails.first).to_have_js_property("complete", True)
        assert thumbnails.first.evaluate("img => img.naturalWidth") > 0
        browser.check_page(page, "search-drawer")

        # The pop-up of the best result, by keyboard: Tab reaches it, Enter opens, Escape closes.
        first = drawer.locator(".similar-open").first
        first.focus()
        page.keyboard.press("Enter")
        popup = page.locator("#similar-details")
        expect(popup).to_be_visible()
        expect(popup).to_have_attribute("open", "")
        best = gateway.post("/api/v1/images/search", headers=library["headers"], json={
            "image_id": library["query"], "ids": ids,
            **{k: float(v) for k, v in SUPERPIXELS.items()}}).json()["items"][0]
        assert best["image_id"] == items[0]
        facts = popup.locator("#similar-details-facts")
        expect(facts).to_contain_text(f"Name{best['name']}")
        expect(facts).to_contain_text("Size128\u00d7128 pixels")
        expect(facts).to_contain_text("Media typeimage/png")
        expect(facts).to_contain_text(f"Created{best['created_at'][:10]}")
        download = popup.get_by_role("link", name=f"Download {best['name']}")
        href = download.get_attribute("href")
        assert href == best["content_url"]
        assert page.request.get(href).status == 200  # the session's cookie opens it
        expect(popup.get_by_role("link", name="Open in the workbench")).to_have_attribute(
            "href", f"/segment?image={best['image_id']}")
        browser.check_page(page, "search-details")
        # Focus is trapped: Tab from the last control wraps inside the pop-up, never the page.
        for key in ["Tab"] * 8 + ["Shift+Tab"] * 8:
            page.keyboard.press(key)
            inside = page.evaluate("document.getElementById('similar-details')"
                                   ".contains(document.activeElement)")
            assert inside, page.evaluate("document.activeElement.outerHTML")
        page.keyboard.press("Escape")
        expect(popup).to_be_hidden()
        expect(drawer).to_be_visible()
        expect(first).to_be_focused()  # focus returns to the result that opened it
        page.keyboard.press("Escape")
        expect(drawer).to_be_hidden()
        expect(search).to_be_focused()

    def test_a_file_from_the_device_is_searched_by_its_selection_mask(
        self, expect: Any, browser: Any, library: dict[str, Any], gateway: httpx.Client,
    ) -> None:
        page = browser.new_page()
        browser.sign_in(page, library["user"].email)
        page.goto("/segment")
        page.set_input_files("#upload-image", [
            {"name": "device.png", "mimeType": "image/png", "buffer": png(QUERY.pixels)}])
        expect(page.locator("#source-status")).to_have_text("device.png: 128\u00d7128 pixels.")
        page.get_by_role("tab", name="Superpixels").click()
        page.locator("#panel-superpixels").get_by_label("About how many").fill("150")
        page.get_by_role("button", name="Draw superpixels").click()
        ids_box = page.get_by_label("Selected superpixel ids (click the image, or type them)")
        ids_box.fill(",".join(map(str, object_ids(gateway, library["headers"]))))
        ids_box.press("Enter")
        page.get_by_role("button", name="Search similar").click()
        drawer = page.get_by_role("dialog", name="Images like the selection in device.png")
        expect(drawer.locator("#similar-status")).to_contain_text("the most similar first")
        items = ranked(page)
        # An upload is not in the library: the library's copy of it is now the nearest.
        assert items[0] == library["query"]
        assert set(items[1:4]) == library["same_object"], items
        assert not set(items) & library["foreign"]

    def test_searching_with_nothing_selected_says_so(
        self, expect: Any, browser: Any, library: dict[str, Any],
    ) -> None:
        page = browser.new_page()
        browser.sign_in(page, library["user"].email)
        page.goto(f"/segment?image={library['query']}")
        expect(page.locator("#source-status")).to_contain_text("query.png")
        page.get_by_role("tab", name="Superpixels").click()
        page.get_by_role("button", name="Draw superpixels").click()
        page.get_by_role("button", name="Search similar").click()
        expect(page.locator("#run-problem")).to_have_text("Select at least one superpixel first.")
        expect(page.locator("#similar-drawer")).to_be_hidden()

    def test_find_similar_on_a_library_item(
        self, expect: Any, browser: Any, library: dict[str, Any],
    ) -> None:
        page = browser.new_page()
        browser.sign_in(page, library["user"].email)
        page.goto("/library")
        card = page.locator(f'li[data-image-id="{library["query"]}"]')
        button = card.get_by_role("button", name="Find similar")
        button.click()
        drawer = page.get_by_role("dialog", name="Similar to query.png")
        expect(drawer.locator("#similar-status")).to_contain_text("the most similar first")
        items = ranked(page)
        assert sorted(items) == sorted(library["same_object"] | library["same_background"])
        assert not set(items) & library["foreign"]
        browser.check_page(page, "library-similar")
        drawer.get_by_role("button", name="Close").click()
        expect(drawer).to_be_hidden()
        expect(button).to_be_focused()


class TestOtherSources:
    """The drawer's "Also search" boxes (issue 14): scans of the caller's hospital join the
    library's answer, each result says its kind and links to its page; another hospital's
    identical scan never appears."""

    def test_scans_of_my_hospital_join_the_answer_and_another_hospital_s_never(
        self, expect: Any, browser: Any, library: dict[str, Any], gateway: httpx.Client,
        create_user: Callable[..., Actor],
    ) -> None:
        slice_png = png(mri_slice(7, True, 128).image)
        stranger = create_user(hospital="UI Other Clinic")
        theirs = {"Authorization":
                  f"Bearer {login(gateway, stranger.email, PASSWORD)['access_token']}"}

        def file_scan(headers: dict[str, str]) -> int:
            filed = gateway.post("/api/v1/scans", headers=headers, data={"patient_gender": "female"},
                                 files={"image": ("slice.png", slice_png, "image/png")})
            assert filed.status_code == 201, filed.text
            return int(filed.json()["id"])

        mine, foreign = file_scan(library["headers"]), file_scan(theirs)
        gateway.post("/api/v1/images", headers=library["headers"],
                     files={"image": ("slice.png", slice_png, "image/png")}).raise_for_status()
        page = browser.new_page()
        browser.sign_in(page, library["user"].email)
        page.goto("/library")
        card = page.locator('li[data-image-id]', has_text="slice.png").first
        card.get_by_role("button", name="Find similar").click()
        drawer = page.get_by_role("dialog", name="Similar to slice.png")
        expect(drawer.locator("#similar-status")).to_contain_text("the most similar first")
        expect(drawer.locator('li[data-kind="scan"]')).to_have_count(0)
        drawer.get_by_label("scans of my hospital").check()
        expect(drawer.locator("#similar-status")).to_contain_text("results, the most similar first")
        scan_item = drawer.locator(f'li[data-kind="scan"][data-scan-id="{mine}"]')
        expect(scan_item).to_have_count(1)
        expect(drawer.locator(f'li[data-scan-id="{foreign}"]')).to_have_count(0)
        # The same slice as a scan: the best of the answer, and it says what it is.
        expect(drawer.locator("#similar-results li").first).to_have_attribute("data-kind", "scan")
        expect(scan_item).to_contain_text("scan · similarity 1.000")
        scan_item.locator(".similar-open").click()
        popup = page.locator("#similar-details")
        expect(popup.locator("#similar-details-facts")).to_contain_text("MRI scan of your hospital")
        expect(popup.get_by_role("link", name="Open its page")).to_have_attribute("href", "/mri")
        expect(popup.get_by_role("link", name="Open in the workbench")).to_be_hidden()
        browser.check_page(page, "search-scans")

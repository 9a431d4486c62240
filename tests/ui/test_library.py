"""The library page: upload (several files, drag and drop), thumbnails, search, sort, rename,
download in another format, delete, and the quota bar."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from suite_support import PASSWORD, Actor, login

pytestmark = [pytest.mark.suite, pytest.mark.ui]


def png(width: int, height: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def upload_file(name: str, data: bytes, mime: str = "image/png") -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


def drop_files(page: Any, selector: str, files: list[tuple[str, bytes]]) -> None:
    """Drop files on an element as a user dragging them from the desktop would."""
    transfer = page.evaluate_handle("""(files) => {
        const transfer = new DataTransfer();
        for (const [name, data] of files) {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            transfer.items.add(new File([bytes], name, {type: 'image/png'}));
        }
        return transfer;
    }""", [[name, base64.b64encode(data).decode()] for name, data in files])
    page.dispatch_event(selector, "dragover", {"dataTransfer": transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": transfer})


def card(page: Any, name: str) -> Any:
    return page.locator(".image-card", has=page.locator(".name", has_text=name))


class TestLibrary:
    def test_upload_list_search_sort_rename_download_delete(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
        gateway: httpx.Client,
    ) -> None:
        user = create_user()
        page = browser.new_page()
        browser.sign_in(page, user.email)
        page.goto("/library")
        expect(page.locator("#list-status")).to_have_text("No images yet.")

        page.set_input_files("#upload-input", [
            upload_file("alpha.png", png(48, 40, 1)), upload_file("beta.png", png(40, 48, 2)),
            upload_file("gamma.png", png(32, 32, 3))])
        expect(page.locator("#upload-status")).to_have_text("Uploaded 3 of 3 files.")
        drop_files(page, "#dropzone", [("zebra.png", png(30, 20, 4))])
        expect(page.locator("#upload-status")).to_have_text("Uploaded 1 of 1 file.")
        expect(page.locator(".image-card")).to_have_count(4)
        expect(page.locator("#list-status")).to_have_text("Images 1\u20134 of 4")
        # Thumbnails are the stored images, loaded with the session cookie.
        # (A function, not an expression string: the page's CSP forbids evaluating strings.)
        page.wait_for_function("() => [...document.querySelectorAll('.image-card img')]"
                               ".every(img => img.complete && img.naturalWidth > 0)")
        expect(page.locator("#usage-images-text")).to_have_text("4 of 1000 images")
        assert float(page.locator("#usage-bytes").get_attribute("value") or 0) > 0
        browser.check_page(page, "library")

        page.get_by_label("Search by name").fill("zeb")
        expect(page.locator(".image-card")).to_have_count(1)
        expect(card(page, "zebra.png")).to_be_visible()
        page.get_by_label("Search by name").fill("")
        page.get_by_label("Sort by").select_option("name")
        expect(page.locator(".image-card .name")).to_have_text(
            ["alpha.png", "beta.png", "gamma.png", "zebra.png"])
        page.get_by_label("Sort by").select_option("-name")
        expect(page.locator(".image-card .name")).to_have_text(
            ["zebra.png", "gamma.png", "beta.png", "alpha.png"])

        card(page, "beta.png").get_by_role("button", name="Rename").click()
        page.get_by_label("New name for beta.png").fill("beta renamed.png")
        page.get_by_role("button", name="Save").click()
        expect(card(page, "beta renamed.png")).to_be_visible()
        token = login(gateway, user.email, PASSWORD)["access_token"]
        names = {item["name"] for item in gateway.get(
            "/api/v1/images", headers={"Authorization": f"Bearer {token}"}).json()["items"]}
        assert names == {"alpha.png", "beta renamed.png", "gamma.png", "zebra.png"}

        alpha = card(page, "alpha.png")
        alpha.get_by_label("Download alpha.png as").select_option("jpeg")
        expect(alpha.get_by_label("Download alpha.png as")).to_have_value("jpeg")
        with page.expect_download() as download_info:
            alpha.get_by_role("button", name="Download").click()
        download = download_info.value
        assert download.suggested_filename == "alpha.jpg"
        with Image.open(download.path()) as picture:
            assert (picture.format, picture.size) == ("JPEG", (48, 40))

        page.once("dialog", lambda dialog: dialog.accept())
        card(page, "gamma.png").get_by_role("button", name="Delete").click()
        expect(page.locator(".image-card")).to_have_count(3)
        expect(page.locator("#usage-images-text")).to_have_text("3 of 1000 images")

    def test_a_refused_upload_shows_the_problem_detail(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
    ) -> None:
        user = create_user()
        page = browser.new_page()
        browser.sign_in(page, user.email)
        page.goto("/library")
        page.set_input_files("#upload-input", [
            upload_file("notes.png", b"this is not a picture at all"),
            upload_file("fine.png", png(16, 16, 5))])
        expect(page.locator("#upload-status")).to_have_text("Uploaded 1 of 2 files.")
        problem = page.locator("#upload-problem")
        expect(problem).to_be_visible()
        expect(problem).to_contain_text("notes.png:")
        assert "Traceback" not in problem.inner_text()
        expect(page.locator(".image-card")).to_have_count(1)

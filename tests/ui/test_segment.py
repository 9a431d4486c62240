"""The segment workbench: threshold, background removal, objects with measurements, and
superpixels picked with the mouse, compared pixel for pixel with the service's selection."""

from __future__ import annotations

import base64
import csv
import io
import zipfile
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from suite_support import PASSWORD, Actor, login

pytestmark = [pytest.mark.suite, pytest.mark.ui]

WIDTH, HEIGHT = 64, 48
SUPERPIXELS = {"n_segments": "12", "compactness": "10", "sigma": "0"}


def specimen_picture() -> bytes:
    """Three bright discs of different colours on a dark, noisy, RGB background."""
    rng = np.random.default_rng(13)
    pixels = rng.integers(10, 40, (HEIGHT, WIDTH, 3)).astype(np.uint8)
    rows, cols = np.mgrid[:HEIGHT, :WIDTH]
    for (row, col, radius), colour in zip([(14, 14, 8), (30, 44, 10), (36, 16, 6)],
                                          [(220, 60, 60), (60, 220, 90), (200, 200, 240)],
                                          strict=True):
        pixels[(rows - row) ** 2 + (cols - col) ** 2 <= radius ** 2] = colour
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as picture:
        return np.asarray(picture.convert("RGB"))


@pytest.fixture
def signed_in(browser: Any, create_user: Callable[..., Actor],
              gateway: httpx.Client) -> tuple[Any, dict[str, str], str]:
    """A page signed in as a new technician whose library holds the specimen picture."""
    user = create_user()
    headers = {"Authorization": f"Bearer {login(gateway, user.email, PASSWORD)['access_token']}"}
    stored = gateway.post("/api/v1/images", headers=headers,
                          files={"image": ("discs.png", specimen_picture(), "image/png")})
    assert stored.status_code == 201, stored.text
    page = browser.new_page()
    browser.sign_in(page, user.email)
    return page, headers, stored.json()["id"]


class TestWorkbench:
    def test_threshold_background_and_objects_on_a_library_image(
        self, expect: Any, browser: Any, signed_in: tuple[Any, dict[str, str], str],
        gateway: httpx.Client,
    ) -> None:
        page, headers, image_id = signed_in
        page.goto(f"/segment?image={image_id}")
        expect(page.locator("#source-status")).to_have_text(f"discs.png: {WIDTH}\u00d7{HEIGHT} pixels.")

        panel = page.locator("#panel-threshold")
        panel.get_by_label("Foreground is").select_option("light-on-dark")
        panel.get_by_label("Opening radius (px)").fill("1")
        panel.get_by_label("Fill holes").check()
        panel.get_by_label("Result").select_option("cutout")
        panel.get_by_role("button", name="Run threshold").click()
        expect(page.locator("#run-status")).to_have_text("Done: threshold.")
        expect(page.locator("#result")).to_be_visible()
        expect(page.locator("#facts")).to_contain_text("object count3")
        expect(page.locator("#original")).to_be_visible()  # beside the result
        browser.check_page(page, "segment-threshold")

        page.get_by_role("tab", name="Background removal").click()
        page.locator("#panel-background").get_by_role("button", name="Remove background").click()
        expect(page.locator("#run-status")).to_have_text("Done: background.")
        expect(page.locator("#facts")).to_contain_text("foreground fraction")

        page.get_by_role("tab", name="Flat-field").click()
        page.locator("#panel-vignetting").get_by_label("Background blur").fill("20")
        page.locator("#panel-vignetting").get_by_role("button", name="Correct").click()
        expect(page.locator("#run-status")).to_have_text("Done: vignetting.")
        expect(page.locator("#facts")).to_contain_text("sigma20")

        page.get_by_role("tab", name="Objects").click()
        page.locator("#panel-objects").get_by_role("button", name="Find objects").click()
        expect(page.locator("#run-status")).to_have_text("Done: objects.")
        expect(page.locator("#objects-table tbody tr")).to_have_count(3)
        browser.check_page(page, "segment-objects")
        with page.expect_download() as info:
            page.get_by_role("button", name="Download measurements (CSV)").click()
        with open(info.value.path(), newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(rows) == 3 and float(rows[0]["area"]) > 0
        with page.expect_download() as info:
            page.get_by_role("button", name="Download crops + CSV (ZIP)").click()
        with zipfile.ZipFile(info.value.path()) as archive:
            assert "objects.csv" in archive.namelist()

        # Any result goes to the library.
        page.get_by_role("button", name="Save to library").click()
        expect(page.locator("#result-status")).to_have_text(
            "Saved to your library as discs-objects.png.")
        names = {item["name"] for item in
                 gateway.get("/api/v1/images", headers=headers).json()["items"]}
        assert names == {"discs.png", "discs-objects.png"}

    def test_a_problem_from_the_service_is_shown_as_its_detail(
        self, expect: Any, signed_in: tuple[Any, dict[str, str], str],
    ) -> None:
        page = signed_in[0]
        page.goto("/segment")
        flat = io.BytesIO()
        Image.new("RGB", (20, 20), (90, 90, 90)).save(flat, "PNG")
        page.set_input_files("#upload-image", [
            {"name": "flat.png", "mimeType": "image/png", "buffer": flat.getvalue()}])
        expect(page.locator("#source-status")).to_have_text("flat.png: 20\u00d720 pixels.")
        page.get_by_role("button", name="Run threshold").click()
        problem = page.locator("#run-problem")
        expect(problem).to_be_visible()
        expect(problem).to_contain_text("cannot be thresholded: all pixels are 90")


class TestSuperpixels:
    def test_clicks_toggle_superpixels_and_the_selection_matches_the_service(
        self, expect: Any, browser: Any, signed_in: tuple[Any, dict[str, str], str],
        gateway: httpx.Client,
    ) -> None:
        page, headers, image_id = signed_in
        page.goto(f"/segment?image={image_id}")
        expect(page.locator("#source-status")).to_contain_text("discs.png")
        page.get_by_role("tab", name="Superpixels").click()
        panel = page.locator("#panel-superpixels")
        panel.get_by_label("About how many").fill(SUPERPIXELS["n_segments"])
        panel.get_by_role("button", name="Draw superpixels").click()
        canvas = page.locator("#superpixel-canvas")
        expect(canvas).to_be_visible()

        answer = gateway.post("/api/v1/segment/superpixels", headers=headers, data={
            **SUPERPIXELS, "labels_encoding": "base64", "output": "json"},
            files={"image": ("discs.png", specimen_picture(), "image/png")}).json()
        labels = np.frombuffer(base64.b64decode(answer["labels"]["data"]), "<u2").reshape(
            HEIGHT, WIDTH)

        box = canvas.bounding_box()
        assert box is not None

        def click(row: int, col: int) -> None:
            canvas.click(position={"x": (col + 0.5) * box["width"] / WIDTH,
                                   "y": (row + 0.5) * box["height"] / HEIGHT})

        points = [(14, 14), (30, 44), (5, 60), (36, 16)]
        for row, col in points:
            click(row, col)
        click(*points[2])  # a second click lets that superpixel go again (XOR)
        expected = sorted({int(labels[r, c]) for r, c in points} ^ {int(labels[points[2]])})
        ids_box = page.get_by_label("Selected superpixel ids (click the image, or type them)")
        expect(ids_box).to_have_value(",".join(map(str, expected)))
        browser.check_page(page, "segment-superpixels")

        shown = page.locator("#selection-canvas").evaluate("canvas => canvas.toDataURL('image/png')")
        ours = decoded(base64.b64decode(shown.split(",", 1)[1]))
        service = gateway.post("/api/v1/segment/superpixels/selection", headers=headers, data={
            **SUPERPIXELS, "ids": ",".join(map(str, expected)), "result": "cutout",
            "background": "white", "output": "png"},
            files={"image": ("discs.png", specimen_picture(), "image/png")})
        assert service.status_code == 200, service.text
        theirs = decoded(service.content)
        assert ours.shape == theirs.shape == (HEIGHT, WIDTH, 3)
        assert np.array_equal(ours, theirs), f"{int((ours != theirs).any(axis=2).sum())} pixels differ"

        # On transparent: the unselected pixels are (0, 0, 0, 0), as the service writes them.
        page.get_by_label("Shown on").select_option("transparent")
        expect(page.locator("#result-caption")).to_have_text("Selection on transparent")
        shown = page.locator("#selection-canvas").evaluate("canvas => canvas.toDataURL('image/png')")
        with Image.open(io.BytesIO(base64.b64decode(shown.split(",", 1)[1]))) as picture:
            ours_rgba = np.asarray(picture.convert("RGBA"))
        service = gateway.post("/api/v1/segment/superpixels/selection", headers=headers, data={
            **SUPERPIXELS, "ids": ",".join(map(str, expected)), "result": "cutout",
            "background": "transparent", "output": "png"},
            files={"image": ("discs.png", specimen_picture(), "image/png")})
        with Image.open(io.BytesIO(service.content)) as picture:
            assert picture.mode == "RGBA"
            theirs_rgba = np.asarray(picture)
        assert np.array_equal(ours_rgba, theirs_rgba), \
            f"{int((ours_rgba != theirs_rgba).any(axis=2).sum())} pixels differ on transparent"
        browser.check_page(page, "segment-superpixels-transparent")

        with page.expect_download() as info:
            page.get_by_role("button", name="Download mask (PNG)").click()
        with open(info.value.path(), "rb") as handle:
            mask = np.asarray(Image.open(io.BytesIO(handle.read())).convert("L"))
        assert np.array_equal(mask > 0, np.isin(labels, expected))

        page.get_by_role("button", name="Save selection to library").click()
        expect(page.locator("#selection-status")).to_have_text(
            "Saved to your library as discs-selection.png.")
        kept = next(item for item in gateway.get("/api/v1/images", headers=headers).json()["items"]
                    if item["name"] == "discs-selection.png")
        content = gateway.get(f"/api/v1/images/{kept['id']}/content", headers=headers)
        with Image.open(io.BytesIO(content.content)) as picture:  # kept as shown: on transparent
            assert np.array_equal(np.asarray(picture.convert("RGBA")), theirs_rgba)

    def test_typed_ids_select_too_and_unknown_ones_are_named(
        self, expect: Any, signed_in: tuple[Any, dict[str, str], str],
    ) -> None:
        page, _, image_id = signed_in
        page.goto(f"/segment?image={image_id}")
        expect(page.locator("#source-status")).to_contain_text("discs.png")
        page.get_by_role("tab", name="Superpixels").click()
        page.get_by_role("button", name="Draw superpixels").click()
        ids_box = page.get_by_label("Selected superpixel ids (click the image, or type them)")
        expect(ids_box).to_be_visible()
        ids_box.fill("0, 2")
        ids_box.press("Enter")
        expect(page.locator("#selection-status")).to_have_text("2 superpixels selected.")
        ids_box.fill("0, 9999")
        ids_box.press("Enter")
        expect(page.locator("#run-problem")).to_contain_text("No superpixel has the id 9999")

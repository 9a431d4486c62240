"""The MRI page: classify a slice, file it as a scan, list and export the hospital's scans."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from specimen_classify.domain.synthetic_mri import mri_slice
from suite_support import PASSWORD, Actor, login

pytestmark = [pytest.mark.suite, pytest.mark.ui]


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def dicom(pixels: np.ndarray) -> bytes:
    """A 16-bit MONOCHROME2 DICOM file whose rescale and window the reader must apply."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("slice.dcm", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = MRImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope, ds.RescaleIntercept = "1", "-100"
    ds.WindowCenter, ds.WindowWidth = ["1500", "900"], ["2800", "1200"]
    ds.PixelData = (pixels.astype("<u2") * 12 + 100).tobytes()
    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def canvas_pixels(page: Any) -> np.ndarray:
    shown = page.locator("#slice-canvas").evaluate("canvas => canvas.toDataURL('image/png')")
    with Image.open(io.BytesIO(base64.b64decode(shown.split(",", 1)[1]))) as picture:
        return np.asarray(picture.convert("RGB")).astype(np.int16)


def orange(rgb: np.ndarray) -> np.ndarray:
    """Where the crop box is drawn (#f0a500; every slice pixel is gray)."""
    return (rgb[..., 0] - rgb[..., 2]) > 100


class TestMri:
    def test_classify_file_list_and_export_within_the_hospital_only(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
    ) -> None:
        technician = create_user("technician", hospital="UI MRI North")
        page = browser.new_page()
        browser.sign_in(page, technician.email)
        page.goto("/mri")
        page.set_input_files("#slice", [{"name": "slice.png", "mimeType": "image/png",
                                         "buffer": png(mri_slice(7, True, 128).image)}])
        page.get_by_role("button", name="Classify").click()
        facts = page.locator("#prediction-facts")
        expect(facts).to_contain_text("mri-tumor version")
        assert page.locator('[data-fact="label"]').inner_text() in {"tumor", "healthy", "uncertain"}
        expect(page.locator("#crop-text")).to_contain_text("Brain found in rows")
        expect(page.locator("#slice-canvas")).to_be_visible()
        drawn = canvas_pixels(page)
        assert drawn.shape[:2] == (128, 128) and orange(drawn).any()  # the crop box
        # The default model learned from generated slices, and the page says what that means.
        expect(page.locator("#warnings")).to_contain_text("not a diagnostic device")

        page.get_by_label("Patient reference (a pseudonym)").fill("P-UI-0001")
        page.get_by_label("Patient gender").select_option("female")
        page.get_by_role("button", name="File scan").click()
        expect(page.locator("#file-status")).to_contain_text("Filed as scan")
        expect(page.locator("#scans tbody tr", has_text="P-UI-0001")).to_have_count(1)
        browser.check_page(page, "mri")

        page.get_by_label("Patient reference", exact=True).fill("P-UI-0001")
        page.get_by_role("button", name="Filter").click()
        expect(page.locator("#scans-status")).to_have_text("1 scan.")
        filters = page.locator("#scan-filters")
        today = datetime.now(UTC).date()
        for label, value, count in (
            ("Gender", "male", "0 scans."), ("Gender", "female", "1 scan."),
            ("Diagnosis", "tumor", "0 scans."), ("Diagnosis", "", "1 scan."),
            ("Filed until (UTC, that day included)", str(today - timedelta(days=1)), "0 scans."),
            ("Filed until (UTC, that day included)", str(today), "1 scan."),
            ("Filed from (UTC)", str(today + timedelta(days=1)), "0 scans."),
            ("Filed from (UTC)", str(today), "1 scan."),
        ):
            control = filters.get_by_label(label, exact=True)
            if value and label.startswith("Filed"):
                control.fill(value)
            else:
                control.select_option(value)
            page.get_by_role("button", name="Filter").click()
            expect(page.locator("#scans-status")).to_have_text(count)
        with page.expect_download() as info:
            page.get_by_role("button", name="Export CSV").click()
        exported = info.value.path().read_text()
        assert "P-UI-0001" in exported

        # A technician of another hospital does not see it.
        other = browser.context.browser.new_context(base_url=browser.base_url)
        other.route("**/*", lambda route: route.continue_()
                    if route.request.url.startswith(browser.base_url) else route.abort())
        try:
            stranger = create_user("technician", hospital="UI MRI South")
            other_page = other.new_page()
            other_page.goto("/login")
            other_page.get_by_label("Email").fill(stranger.email)
            other_page.get_by_label("Password").fill("correct horse battery")
            other_page.get_by_role("button", name="Sign in").click()
            other_page.wait_for_url(browser.base_url + "/")
            other_page.goto("/mri")
            expect(other_page.locator("#scans-status")).to_have_text("0 scans.")
        finally:
            other.close()

    def test_a_stack_is_classified_slice_by_slice_and_a_moderator_reclassifies_a_scan(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
    ) -> None:
        moderator = create_user("moderator", hospital="UI MRI East")
        page = browser.new_page()
        browser.sign_in(page, moderator.email)
        page.goto("/mri")
        blank = np.zeros((64, 64), np.uint8)  # above the head: no brain in it
        page.set_input_files("#slice", [
            {"name": f"s{i}.png", "mimeType": "image/png", "buffer": png(mri_slice(i, i % 2 == 0, 96).image)}
            for i in range(2)] + [{"name": "top.png", "mimeType": "image/png", "buffer": png(blank)}])
        page.get_by_role("button", name="Classify").click()
        rows = page.locator("#stack-results tbody tr")
        expect(rows).to_have_count(3)
        expect(page.locator("#stack-caption")).to_contain_text("of 3 slices classified")
        expect(rows.nth(2)).to_contain_text("top.png")
        assert rows.nth(2).locator("td").nth(3).inner_text().strip()  # the slice's problem

        page.set_input_files("#slice", [{"name": "one.png", "mimeType": "image/png",
                                         "buffer": png(mri_slice(3, True, 96).image)}])
        page.get_by_role("button", name="Classify").click()
        page.get_by_role("button", name="File scan").click()
        expect(page.locator("#file-status")).to_contain_text("Filed as scan")
        scan_id = page.locator("#file-status").inner_text().split("scan ")[1].split(":")[0]
        page.get_by_role("button", name=f"Re-classify scan {scan_id}").click()
        expect(page.locator("#scans-status")).to_contain_text(f"Scan {scan_id} re-classified")
        page.get_by_role("button", name=f"History of scan {scan_id}").click()
        expect(page.locator("#history-items li")).to_have_count(2)
        edit = page.locator("#edit-scan")
        edit.get_by_label("Diagnosis").select_option("tumor")
        edit.get_by_label("Notes").fill("confirmed by biopsy")
        edit.get_by_role("button", name="Save the record").click()
        expect(page.locator("#edit-status")).to_have_text(f"Scan {scan_id} saved.")
        browser.check_page(page, "mri-moderator")

    def test_a_picture_that_is_no_slice_shows_the_problem_or_the_abstention(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
    ) -> None:
        user = create_user()
        page = browser.new_page()
        browser.sign_in(page, user.email)
        page.goto("/mri")
        stripes = np.zeros((64, 200, 3), np.uint8)
        stripes[:, ::8] = (255, 0, 0)
        page.set_input_files("#slice", [{"name": "stripes.png", "mimeType": "image/png",
                                         "buffer": png(stripes)}])
        page.get_by_role("button", name="Classify").click()
        shown = page.locator("#classify-problem:visible, #warnings:visible")
        expect(shown).to_have_count(1)
        assert shown.inner_text().strip()

    def test_a_dicom_slice_is_drawn_as_the_classifier_reads_it_with_its_crop_box(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
        gateway: httpx.Client,
    ) -> None:
        user = create_user("technician", hospital="UI MRI DICOM")
        page = browser.new_page()
        browser.sign_in(page, user.email)
        page.goto("/mri")
        page.set_input_files("#slice", [{"name": "slice.dcm", "mimeType": "application/dicom",
                                         "buffer": dicom(mri_slice(5, True, 128).image)}])
        page.get_by_role("button", name="Classify").click()
        expect(page.locator("#prediction-facts")).to_contain_text("mri-tumor version")
        expect(page.locator("#crop-text")).to_contain_text("Brain found in rows")
        expect(page.locator("#crop-text")).to_contain_text("(the orange box)")
        expect(page.locator("#slice-canvas")).to_be_visible()
        expect(page.locator("#warnings")).to_be_visible()  # the model and its warnings
        browser.check_page(page, "mri-dicom")

        page.get_by_role("button", name="File scan").click()
        expect(page.locator("#file-status")).to_contain_text("Filed as scan")
        scan_id = page.locator("#file-status").inner_text().split("scan ")[1].split(":")[0]
        auth = {"Authorization": f"Bearer {login(gateway, user.email, PASSWORD)['access_token']}"}
        # The slice as the classifier read it (the window applied), served by the API as PNG.
        served = gateway.get(f"/api/v1/scans/{scan_id}/image", headers=auth, params={"output": "png"})
        assert served.status_code == 200, served.text
        with Image.open(io.BytesIO(served.content)) as picture:
            theirs = np.asarray(picture.convert("L")).astype(np.int16)
        box = gateway.get(f"/api/v1/scans/{scan_id}", headers=auth).json()["classification"]["crop_box"]
        ours = canvas_pixels(page)
        assert ours.shape[:2] == theirs.shape == (128, 128)
        line = orange(ours)
        assert line.any(), "no crop box drawn"
        rows, cols = np.nonzero(line)
        assert abs(int(rows.min()) - box["min_row"]) <= 2 and abs(int(cols.max()) - box["max_col"]) <= 2
        gray = ~line & (ours[..., 0] == ours[..., 1]) & (ours[..., 1] == ours[..., 2])
        assert gray.mean() > 0.8
        assert np.array_equal(ours[..., 0][gray], theirs[gray]), \
            f"{int((ours[..., 0][gray] != theirs[gray]).sum())} pixels differ"

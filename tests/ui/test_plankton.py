"""Plankton projects in the browser, on the real suite (its classify worker is a real RQ worker
process on the suite's Redis): create a project, add and remove members, upload a ZIP of
generated frames with a metadata CSV (the per-file report), start a run and follow its progress
bar to 100 % (a frame that cannot be decoded shows as failed with its reason), review the
objects by keyboard (validate, dubious, re-label several at once) and check the statuses through
the API, export to EcoTaxa and download the ZIP; a user outside the project gets the not-found
page. *More like this* (M) on the review page pulls the objects most like the one in focus into
the gallery, in the search's order, and reviews them at once."""

from __future__ import annotations

import csv
import io
import math
import re
import struct
import time
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from specimen_classify.domain.synthetic_plankton import CATEGORIES, plankton_frame
from suite_support import PASSWORD, Actor, login

pytestmark = [pytest.mark.suite, pytest.mark.ui]

FRAME_SIDE = 160  # two frames, a broken one, a text file and the CSV stay under the suite's 64 KiB body


def _png(pixels: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", pixels)
    assert ok
    return bytes(data.tobytes())


def _undecodable_png() -> bytes:
    """A PNG whose every chunk and CRC is right (its header and a verify() pass) but whose
    image data is not zlib: imported by the upload, failed by the run that decodes it."""
    whole = _png(plankton_frame((13, 9), {}, FRAME_SIDE, FRAME_SIDE).image)
    out, at = [whole[:8]], 8
    while at < len(whole):
        length = struct.unpack(">I", whole[at:at + 4])[0]
        kind = whole[at + 4:at + 8]
        data = whole[at + 8:at + 8 + length]
        if kind == b"IDAT":
            data = bytes(range(256)) * 4
        out.append(struct.pack(">I", len(data)) + kind + data
                   + struct.pack(">I", zlib.crc32(kind + data)))
        at += 12 + length
    return b"".join(out)


def frames_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for i in range(2):
            frame = plankton_frame((13, i), dict.fromkeys(CATEGORIES, 1), FRAME_SIDE, FRAME_SIDE)
            archive.writestr(f"cruise/frame{i}.png", _png(frame.image))
        # Its chunks are whole (so it is imported), its pixels are not: the run fails it.
        archive.writestr("cruise/broken.png", _undecodable_png())
        archive.writestr("cruise/notes.txt", "not a frame\n")
    return buffer.getvalue()


METADATA = ("file_name,sample_id,acq_id,lat,lon,date,time,depth_min,depth_max\n"
            "frame0.png,st1,acq1,43.68,7.31,2026-05-04,10:15,0,50\n"
            "frame1.png,st1,acq1,43.68,7.31,2026-05-04,10:16,0,50\n"
            "broken.png,st1,acq1,43.68,7.31,2026-05-04,10:17,0,50\n")


def upload_file(name: str, data: bytes, mime: str) -> dict[str, Any]:
    return {"name": name, "mimeType": mime, "buffer": data}


def api_objects(gateway: httpx.Client, token: str, project_id: int) -> list[dict[str, Any]]:
    answer = gateway.get(f"/api/v1/projects/{project_id}/objects",
                         headers={"Authorization": f"Bearer {token}"}, params={"limit": 500})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


class TestPlanktonProject:
    def test_create_upload_run_review_by_keyboard_export_and_outsiders_see_nothing(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
        gateway: httpx.Client,
    ) -> None:
        owner = create_user(hospital="UI Plankton Station")
        member = create_user(hospital="UI Plankton Station")
        passer = create_user(hospital="UI Plankton Station")
        outsider = create_user(hospital="UI Plankton Elsewhere")
        token = login(gateway, owner.email, PASSWORD)["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        page = browser.new_page()
        browser.sign_in(page, owner.email)

        # -- create ------------------------------------------------------------------------
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
        page.wait_for_url(browser.base_url + "/projects")
        expect(page.locator("#list-status")).to_have_text("No projects yet: create one above.")
        browser.check_page(page, "projects")
        page.get_by_label("Name", exact=True).fill("Point B cruise")
        page.get_by_label("Description", exact=True).fill("Spring 2026, net tows")
        page.get_by_label("Instrument").fill("ZooScan")
        page.get_by_label("Pixel size (µm per pixel)").fill("10.6")
        page.get_by_role("button", name="Create project").click()
        page.wait_for_url(re.compile(r".*/projects/\d+$"))
        project_id = int(page.url.rsplit("/", 1)[1])
        expect(page.locator("main h1")).to_have_text("Point B cruise")
        expect(page.locator("#facts")).to_contain_text("10.6 µm per pixel")
        project = gateway.get(f"/api/v1/projects/{project_id}", headers=auth).json()
        assert (project["instrument"], project["pixel_size_um"], project["description"]) == (
            "ZooScan", 10.6, "Spring 2026, net tows")

        # -- members: add two by id, change one's role, remove the other ----------------------
        for actor, role in ((member, "viewer"), (passer, "viewer")):
            page.get_by_label("User (id, or email of a user you manage)").fill(str(actor.id))
            page.get_by_label("Role", exact=True).select_option(role)
            page.get_by_role("button", name="Add member").click()
            expect(page.locator(f'#members tr[data-user-id="{actor.id}"]')).to_have_count(1)
        page.get_by_label(f"Role of user #{member.id}", exact=True).select_option("annotator")
        expect(page.locator("#members-status")).to_have_text(f"user #{member.id} is now an annotator.")
        page.get_by_role("button", name=f"Remove user #{passer.id}", exact=True).click()
        expect(page.locator(f'#members tr[data-user-id="{passer.id}"]')).to_have_count(0)
        members = gateway.get(f"/api/v1/projects/{project_id}/members", headers=auth).json()
        assert {m["user_id"]: m["role"] for m in members["items"]} == {
            owner.id: "manager", member.id: "annotator"}

        # -- upload a ZIP with a metadata CSV: the per-file report ---------------------------
        page.locator("#frame-files").set_input_files(
            [upload_file("cruise.zip", frames_zip(), "application/zip")])
        page.locator("#metadata-file").set_input_files(
            [upload_file("metadata.csv", METADATA.encode(), "text/csv")])
        page.get_by_role("button", name="Upload", exact=True).click()
        expect(page.locator("#report-summary")).to_have_text("3 imported, 1 rejected.")
        rejected = page.locator("#report-rejected tbody tr")
        expect(rejected).to_have_count(1)
        expect(rejected).to_contain_text("notes.txt")
        assert rejected.locator("td.reason").inner_text().strip() != ""
        expect(page.locator("#report-imported tbody tr", has_text="frame0.png")).to_contain_text("st1")
        expect(page.locator("#frames-count")).to_have_text("3 frames.")

        # -- a run, followed by its progress bar to 100 % ------------------------------------
        page.evaluate("""() => {
            window.seenProgress = [];
            new MutationObserver(() => window.seenProgress.push(
                Number(document.getElementById('run-progress').getAttribute('aria-valuenow'))))
              .observe(document.getElementById('run-progress'), {attributes: true,
                                                                 attributeFilter: ['aria-valuenow']});
        }""")
        page.get_by_role("button", name="Start a run").click()
        bar = page.get_by_role("progressbar")
        expect(bar).to_have_attribute("aria-valuenow", "100", timeout=180_000)
        expect(page.locator("#run-status")).to_contain_text("finished: 3 of 3 frames (2 done, 1 failed)")
        seen = page.evaluate("window.seenProgress")
        assert seen and seen == sorted(seen) and seen[-1] == 100, seen
        failure = page.locator("#run-errors tbody tr")
        expect(failure).to_have_count(1)
        expect(failure.locator("th")).to_have_text("broken.png")
        assert failure.locator("td.reason").inner_text().strip() != ""
        expect(page.get_by_role("button", name="Cancel the run")).to_be_hidden()
        browser.check_page(page, "project")
        # Again for the failed frame: the same job, which fails it again with its reason.
        runs = f"/api/v1/projects/{project_id}/runs"
        first_end = gateway.get(runs, headers=auth).json()["items"][0]["finished_at"]
        page.get_by_role("button", name="Run the failed frames again").click()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = gateway.get(runs, headers=auth).json()["items"][0]
            if job["finished_at"] not in (None, first_end):
                break
            time.sleep(0.3)
        assert job["status"] == "succeeded" and job["progress"]["failed"] == 1, job
        expect(page.locator("#run-status")).to_contain_text(
            "finished: 3 of 3 frames (2 done, 1 failed)")
        expect(bar).to_have_attribute("aria-valuenow", "100")
        expect(failure).to_have_count(1)

        # -- review by keyboard ------------------------------------------------------------
        objects = api_objects(gateway, token, project_id)
        assert len(objects) >= 5, objects
        least_sure_first = [o["id"] for o in objects]
        page.get_by_role("link", name="Review objects").click()
        page.wait_for_url(browser.base_url + f"/projects/{project_id}/review")
        options = page.locator("#gallery [role=option]")
        expect(options).to_have_count(len(objects))
        shown = [int(i) for i in options.evaluate_all("nodes => nodes.map(n => n.dataset.id)")]
        assert shown == least_sure_first
        page.wait_for_function("() => [...document.querySelectorAll('#gallery img')]"
                               ".every(img => img.complete && img.naturalWidth > 0)")

        gallery = page.get_by_role("listbox")
        gallery.focus()
        page.keyboard.press("v")  # the first: validated; focus moves on
        expect(page.locator("#review-status")).to_have_text("1 object validated.")
        page.keyboard.press("d")  # the second: dubious
        expect(page.locator("#review-status")).to_have_text("1 object dubious.")
        page.keyboard.press("Shift+ArrowRight")  # the third and fourth ...
        page.keyboard.press("Shift+ArrowRight")  # ... and fifth
        expect(page.locator("#review-status")).to_have_text("3 selected.")
        expect(page.locator('#gallery [aria-selected="true"]')).to_have_count(3)
        page.keyboard.press("c")
        expect(page.get_by_label("New category", exact=True)).to_be_focused()
        page.keyboard.type("single cells")
        page.keyboard.press("Enter")
        expect(page.locator("#review-status")).to_have_text("3 objects re-labelled single cells.")
        expect(gallery).to_be_focused()

        after = {o["id"]: o for o in api_objects(gateway, token, project_id)}
        first, second, *relabelled = least_sure_first[:5]
        assert after[first]["status"] == "validated"
        assert after[first]["category"] == next(o for o in objects if o["id"] == first)["category"]
        assert after[second]["status"] == "dubious"
        assert [(after[i]["category"], after[i]["status"]) for i in relabelled] == [
            ("single cells", "validated")] * 3
        assert all(after[i]["status"] == "predicted" for i in least_sure_first[5:])
        expect(page.locator('#counts tfoot td[data-status="validated"]')).to_have_text("4")
        expect(page.locator('#counts tfoot td[data-status="dubious"]')).to_have_text("1")
        page.keyboard.press("Shift+ArrowRight")  # a selection in the picture, then axe
        browser.check_page(page, "review")
        page.keyboard.press("Escape")

        page.get_by_label("Status", exact=True).select_option("dubious")
        expect(options).to_have_count(1)
        expect(options.first).to_have_attribute("data-id", str(second))
        page.get_by_label("Status", exact=True).select_option("")
        # Typed fast right after another filter's change: the newer list wins whatever the
        # order the answers come in.
        threshold = math.floor(sorted(o["probability"] for o in objects)[5] * 1000) / 1000
        expected = sum(o["probability"] >= threshold for o in objects)
        page.get_by_label("Probability from").fill(str(threshold))
        page.get_by_role("button", name="Show", exact=True).click()
        expect(page.locator("#gallery-status")).to_have_text(f"Objects 1\u2013{expected} of {expected}.")
        expect(options).to_have_count(expected)

        # -- export to EcoTaxa and download ------------------------------------------------
        page.get_by_role("link", name="Back to the project").click()
        page.wait_for_url(browser.base_url + f"/projects/{project_id}")
        page.get_by_label("Format").select_option("ecotaxa")
        page.get_by_role("button", name="Start the export").click()
        download_link = page.locator("#export-download")
        expect(download_link).to_be_visible(timeout=120_000)
        expect(page.locator("#export-status-text")).to_contain_text("ready")
        with page.expect_download() as caught:
            download_link.click()
        exported = caught.value
        assert exported.suggested_filename.endswith(".zip")
        with zipfile.ZipFile(exported.path()) as archive:
            tsv_name = next(n for n in archive.namelist() if n.endswith(".tsv"))
            text = archive.read(tsv_name).decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))[1:]  # [1]: the types row
        assert len(rows) == len(objects)
        statuses = sorted(row["object_annotation_status"] for row in rows)
        assert statuses.count("validated") == 4 and statuses.count("dubious") == 1
        browser.check_page(page, "project-exported")

        # -- someone outside the project -----------------------------------------------------
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(re.compile(r".*/login.*"))
        browser.sign_in(page, outsider.email)
        for path in (f"/projects/{project_id}", f"/projects/{project_id}/review"):
            page.goto(path)
            expect(page.locator("main h1")).to_have_text("Not found")
            expect(page.locator("#not-found")).to_be_visible()
            expect(page.locator("#project, #review")).to_be_hidden()
        browser.check_page(page, "project-not-found")
        page.goto("/projects")
        expect(page.locator("#list-status")).to_have_text("No projects yet: create one above.")
        response = page.goto("/projects/not-a-number")
        assert response is not None and response.status == 404
        expect(page.locator("#not-found")).to_be_visible()


def _project_with_a_run(gateway: httpx.Client, auth: dict[str, str]) -> int:
    """A project with one frame, run to its end, all through the API (as a script would)."""
    project_id = int(gateway.post("/api/v1/projects", headers=auth,
                                  json={"name": "Roles cruise"}).json()["id"])
    frame = _png(plankton_frame((14, 0), dict.fromkeys(CATEGORIES, 1), FRAME_SIDE, FRAME_SIDE).image)
    uploaded = gateway.post(f"/api/v1/projects/{project_id}/frames", headers=auth,
                            files=[("image", ("f.png", frame, "image/png"))])
    assert uploaded.status_code == 201, uploaded.text
    started = gateway.post(f"/api/v1/projects/{project_id}/runs", headers=auth, json={})
    assert started.status_code == 202, started.text
    deadline = time.monotonic() + 120
    job = started.json()
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
        job = gateway.get(started.headers["location"], headers=auth).json()
    assert job["status"] == "succeeded", job
    return project_id


class TestProjectRoles:
    def test_a_viewer_sees_no_manager_controls_and_is_told_why_a_review_is_refused(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
        gateway: httpx.Client,
    ) -> None:
        owner = create_user(hospital="UI Plankton Roles")
        reader = create_user(hospital="UI Plankton Roles")
        auth = {"Authorization": f"Bearer {login(gateway, owner.email, PASSWORD)['access_token']}"}
        project_id = _project_with_a_run(gateway, auth)
        members = f"/api/v1/projects/{project_id}/members/{reader.id}"
        assert gateway.put(members, headers=auth, json={"role": "viewer"}).status_code in (200, 201)

        page = browser.new_page()
        browser.sign_in(page, reader.email)
        page.goto(f"/projects/{project_id}")
        expect(page.locator("#facts")).to_contain_text("viewer")
        for control in ("#upload", "#start-run", "#add-member"):
            expect(page.locator(control)).to_be_hidden()
        expect(page.locator("#members select")).to_have_count(0)
        expect(page.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")

        page.goto(f"/projects/{project_id}/review")
        expect(page.locator("#relabel")).to_be_hidden()
        first = page.locator("#gallery [role=option]").first
        expect(first).to_be_visible()
        page.get_by_role("listbox").focus()
        page.keyboard.press("v")
        expect(page.locator("#review-problem")).to_be_visible()
        assert page.locator("#review-problem").inner_text().strip() != ""

        # Made an annotator, the same key validates.
        assert gateway.put(members, headers=auth, json={"role": "annotator"}).status_code == 200
        page.reload()
        object_id = int(first.get_attribute("data-id"))
        page.get_by_role("listbox").focus()
        page.keyboard.press("v")
        expect(page.locator("#review-status")).to_have_text("1 object validated.")
        detail = gateway.get(f"/api/v1/objects/{object_id}", headers=auth).json()
        assert detail["status"] == "validated" and detail["annotated_by"] == reader.id


class TestCancelAndRetry:
    def test_cancel_a_run_then_run_what_it_left_again(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
        gateway: httpx.Client,
    ) -> None:
        owner = create_user(hospital="UI Plankton Cancel")
        auth = {"Authorization": f"Bearer {login(gateway, owner.email, PASSWORD)['access_token']}"}
        project_id = int(gateway.post("/api/v1/projects", headers=auth,
                                      json={"name": "Long cruise"}).json()["id"])
        frames = 60  # enough that the run is still going when Cancel is pressed
        for batch in range(frames // 3):
            files = [("image", (f"f{batch}-{i}.png", _png(plankton_frame(
                (31, batch, i), {CATEGORIES[0]: 1, CATEGORIES[2]: 1}, FRAME_SIDE, FRAME_SIDE).image),
                "image/png")) for i in range(3)]
            uploaded = gateway.post(f"/api/v1/projects/{project_id}/frames", headers=auth, files=files)
            assert uploaded.status_code == 201, uploaded.text

        page = browser.new_page()
        browser.sign_in(page, owner.email)
        page.goto(f"/projects/{project_id}")
        expect(page.locator("#frames-count")).to_have_text(f"{frames} frames.")
        page.get_by_role("button", name="Start a run").click()
        cancel = page.get_by_role("button", name="Cancel the run")
        cancel.click()
        status = page.locator("#run-status")
        expect(status).to_contain_text("cancelled", timeout=120_000)
        bar = page.get_by_role("progressbar")
        expect(bar).to_have_attribute("data-status", "cancelled")
        expect(cancel).to_be_hidden()
        runs = f"/api/v1/projects/{project_id}/runs"
        job = gateway.get(runs, headers=auth).json()["items"][0]
        assert job["status"] == "cancelled", job
        finished = job["progress"]["done"] + job["progress"]["failed"]
        assert finished < frames, job
        expect(status).to_contain_text(f"cancelled: {finished} of {frames} frames")
        assert int(bar.get_attribute("aria-valuenow") or 0) < 100
        browser.check_page(page, "project-cancelled")

        # What the cancel left is run again by the same job, to its end.
        retry = page.get_by_role("button", name="Run the cancelled and failed frames")
        retry.click()
        expect(bar).to_have_attribute("aria-valuenow", "100", timeout=180_000)
        expect(status).to_contain_text(f"finished: {frames} of {frames} frames ({frames} done, 0 failed)")
        expect(page.locator("#retry-run")).to_be_hidden()
        job = gateway.get(runs, headers=auth).json()["items"][0]
        assert (job["status"], job["progress"]["done"]) == ("succeeded", frames), job


class TestMoreLikeThis:
    def test_m_shows_the_search_answer_in_order_and_the_bulk_actions_review_it(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
        gateway: httpx.Client,
    ) -> None:
        owner = create_user(hospital="UI Plankton Similar")
        token = login(gateway, owner.email, PASSWORD)["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        project_id = _project_with_a_run(gateway, auth)
        objects = [o["id"] for o in api_objects(gateway, token, project_id)]
        assert len(objects) >= 4, objects
        # One object validated beforehand: the status filter "predicted" leaves it out of the
        # list and, passed on to the search, out of its answer too.
        already = objects[-1]
        done = gateway.post(f"/api/v1/projects/{project_id}/objects/annotations", headers=auth,
                            json={"ids": [already], "status": "validated"})
        assert done.status_code == 200, done.text
        predicted = [i for i in objects if i != already]
        ids_of = "nodes => nodes.map(n => Number(n.dataset.id))"

        page = browser.new_page()
        browser.sign_in(page, owner.email)
        page.goto(f"/projects/{project_id}/review")
        options = page.locator("#gallery [role=option]")
        expect(options).to_have_count(len(objects))
        page.get_by_label("Status", exact=True).select_option("predicted")
        expect(options).to_have_count(len(predicted))
        assert options.evaluate_all(ids_of) == predicted
        more = page.get_by_role("button", name="More like this (M)")
        expect(more).to_have_attribute("aria-keyshortcuts", "M")
        expect(page.locator("#keys-help")).to_contain_text("M shows the objects most like")
        expect(page.locator("#similar-mode")).to_be_hidden()

        page.get_by_role("listbox").focus()
        page.keyboard.press("ArrowRight")  # the second object in focus
        focused = predicted[1]
        expect(page.locator("#gallery .active")).to_have_attribute("data-id", str(focused))
        page.keyboard.press("m")
        expect(page.locator("#similar-mode")).to_be_visible()
        expect(page.locator("#similar-of")).to_have_text(f"object {focused}")

        search = gateway.post(f"/api/v1/projects/{project_id}/objects/search", headers=auth,
                              json={"object_id": focused, "status": "predicted", "limit": 60})
        assert search.status_code == 200, search.text
        similar = [item["object_id"] for item in search.json()["items"]]
        assert similar and focused not in similar and already not in similar, similar
        plural = "" if len(similar) == 1 else "s"
        expect(page.locator("#gallery-status")).to_have_text(
            f"{len(similar)} object{plural} most like object {focused}, best first.")
        expect(options).to_have_count(len(similar))
        assert options.evaluate_all(ids_of) == similar
        expect(page.get_by_role("listbox")).to_be_focused()
        browser.check_page(page, "review-similar")

        page.keyboard.press("Control+a")
        expect(page.locator("#review-status")).to_have_text(f"{len(similar)} selected.")
        page.keyboard.press("v")
        expect(page.locator("#review-status")).to_have_text(f"{len(similar)} object{plural} validated.")
        after = {o["id"]: o["status"] for o in api_objects(gateway, token, project_id)}
        assert all(after[i] == "validated" for i in similar), after
        assert after[focused] == "predicted"
        left = [i for i in predicted if i not in similar]

        page.get_by_role("button", name="Back to the list").click()
        expect(page.locator("#similar-mode")).to_be_hidden()
        expect(options).to_have_count(len(left))
        assert options.evaluate_all(ids_of) == left

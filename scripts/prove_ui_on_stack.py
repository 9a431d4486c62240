"""A browser journey on a running stack (the compose one, or ``make run``): the web UI as served
by that gateway, in Debian's Chromium driven by Playwright (never ``playwright install``).

    prove_ui_on_stack.py BASE_URL --frames-zip ZIP [--mri-slice PNG] [--email E] [--password P]
                         [--screenshots DIR]

As the admin (``--password`` or ``SPECIMEN_ADMIN_PASSWORD``), what issue 13 asks of someone who
has never used an API, each step checked against the API:

- signs in on ``/login``; uploads a picture to the library;
- opens it on the segment workbench, draws its superpixels and clicks two of them on the canvas
  with the mouse: the ids the page shows are the superpixels under the clicks (the service's own
  labels) and the selection drawn is, pixel for pixel, ``/api/v1/segment/superpixels/selection``
  for those ids;
- finds the serving model versions on ``/models``;
- classifies an MRI slice on ``/mri`` (``--mri-slice``, else one from specimen_classify's
  generator when the venv has it, else a drawn head): a label, or the abstention with its
  warning, the probability and the model version, and the orange crop box on the slice canvas;
- creates a plankton project, uploads ``--frames-zip`` (a ZIP of frames) and starts a run, whose
  progress bar must reach 100 % with every frame done; then reviews by keyboard (Space selects
  the first object, V validates it; C re-labels the next) and finds both through the API;
- on ``/users`` creates a technician in a hospital (made through the API when missing: the UI
  has no hospital form) and deactivates them, found inactive through the API.

Every request the browser makes must stay on the stack's host, and the pages must raise no
console error (the tests/ui rules). Needs the development venv (Playwright, numpy, Pillow) and
``/usr/bin/chromium`` (``SPECIMEN_TEST_CHROMIUM``). Self-contained: it imports nothing from
tests/ (the checks follow tests/ui/test_segment.py, test_mri.py, test_plankton.py, test_manage.py).
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import re
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

CHROMIUM = os.environ.get("SPECIMEN_TEST_CHROMIUM", "/usr/bin/chromium")
WIDTH, HEIGHT = 64, 48
SUPERPIXELS = {"n_segments": "12", "compactness": "10", "sigma": "0"}
HOSPITAL = "Stack Proof Clinic"
NEW_CATEGORY = "stack reviewed"


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def _decoded(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as picture:
        return np.asarray(picture.convert("RGB"))


def _canvas(page: Any, selector: str) -> np.ndarray:
    shown = page.locator(selector).evaluate("canvas => canvas.toDataURL('image/png')")
    return _decoded(base64.b64decode(shown.split(",", 1)[1]))


def specimen_picture() -> bytes:
    """Three bright discs of different colours on a dark, noisy RGB background (as the UI tests'
    segment picture): its superpixels follow the discs."""
    rng = np.random.default_rng(13)
    pixels = rng.integers(10, 40, (HEIGHT, WIDTH, 3)).astype(np.uint8)
    rows, cols = np.mgrid[:HEIGHT, :WIDTH]
    for (row, col, radius), colour in zip([(14, 14, 8), (30, 44, 10), (36, 16, 6)],
                                          [(220, 60, 60), (60, 220, 90), (200, 200, 240)],
                                          strict=True):
        pixels[(rows - row) ** 2 + (cols - col) ** 2 <= radius ** 2] = colour
    return _png(pixels)


def mri_picture(path: Path | None) -> tuple[str, bytes]:
    """The slice to classify: ``path``, else the project's generator, else a drawn head."""
    if path is not None:
        return path.name, path.read_bytes()
    try:
        from specimen_classify.domain.synthetic_mri import mri_slice
    except ImportError:
        rows, cols = np.mgrid[:128, :128]
        head = ((rows - 64) / 50) ** 2 + ((cols - 64) / 40) ** 2 <= 1
        pixels = np.where(head, 90 + (rows % 7) * 10, 0).astype(np.uint8)
        pixels[((rows - 50) / 8) ** 2 + ((cols - 70) / 8) ** 2 <= 1] = 230
        return "drawn-slice.png", _png(pixels)
    return "generated-slice.png", _png(mri_slice(7, True, 128).image)


def orange(rgb: np.ndarray) -> np.ndarray:
    """Where the crop box is drawn (#f0a500; every slice pixel is gray)."""
    wide = rgb.astype(np.int16)
    return (wide[..., 0] - wide[..., 2]) > 100


class Check(AssertionError):
    """A step whose page or API answer is not what the journey expects."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Check(message)


class Api:
    """The stack's API as the admin (a bearer token of their own), through Playwright's request
    context: the same host as the pages."""

    def __init__(self, playwright: Any, base: str, email: str, password: str) -> None:
        self.request = playwright.request.new_context(base_url=base)
        answer = self.request.post("/api/v1/auth/login", data={"email": email, "password": password})
        check(answer.status == 200, f"API login: {answer.status} {answer.text()}")
        self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def get(self, path: str, **params: Any) -> Any:
        answer = self.request.get(path, headers=self.headers, params=params)
        check(answer.status == 200, f"GET {path}: {answer.status} {answer.text()}")
        return answer.json()

    def post(self, path: str, **kwargs: Any) -> Any:
        return self.request.post(path, headers=self.headers, **kwargs)

    def objects(self, project_id: int) -> dict[int, dict[str, Any]]:
        items = self.get(f"/api/v1/projects/{project_id}/objects", limit=500)["items"]
        return {int(item["id"]): item for item in items}

    def close(self) -> None:
        self.request.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("--frames-zip", type=Path, required=True)
    parser.add_argument("--mri-slice", type=Path, default=None,
                        help="a PNG or DICOM slice to classify (default: a generated one)")
    parser.add_argument("--email", default=os.environ.get("SPECIMEN_ADMIN_EMAIL", "admin@specimen.local"))
    parser.add_argument("--password", default=os.environ.get("SPECIMEN_ADMIN_PASSWORD"))
    parser.add_argument("--screenshots", type=Path, default=None)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds the run may take")
    arguments = parser.parse_args(argv)
    if not arguments.password:
        parser.error("--password or SPECIMEN_ADMIN_PASSWORD is required")
    from playwright.sync_api import FilePayload, expect, sync_playwright

    base = arguments.base_url.rstrip("/")
    host = urlsplit(base).hostname
    outside: list[str] = []
    errors: list[str] = []
    started = time.monotonic()
    stamp = f"{int(time.time())}-{os.getpid()}"

    def step(text: str) -> None:
        print(f"  ok  [{time.monotonic() - started:6.1f} s] {text}", flush=True)

    def shot(page: Any, name: str) -> None:
        if arguments.screenshots:
            arguments.screenshots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=arguments.screenshots / f"stack-{name}.png", full_page=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--no-sandbox"] if os.geteuid() == 0 else [])
        context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
        context.set_default_timeout(30_000)

        def guard(route: Any) -> None:
            url = route.request.url
            if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).hostname != host:
                outside.append(url)
                route.abort()
            else:
                route.continue_()

        context.route("**/*", guard)
        page = context.new_page()
        page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error"
                and not m.text.startswith("Failed to load resource") else None)
        page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
        print(f"UI journey against {base} (Chromium {browser.version})", flush=True)
        api = Api(playwright, base, arguments.email, arguments.password)
        try:
            page.goto("/login")
            page.get_by_label("Email").fill(arguments.email)
            page.get_by_label("Password").fill(arguments.password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(base + "/")
            step("signed in")

            # -- library ---------------------------------------------------------------------
            page.goto("/library")
            name = f"stack-{stamp}.png"
            picture_bytes = specimen_picture()
            picture: FilePayload = {"name": name, "mimeType": "image/png", "buffer": picture_bytes}
            page.set_input_files("#upload-input", [picture])
            expect(page.locator("#upload-status")).to_have_text("Uploaded 1 of 1 file.")
            card = page.locator(".image-card", has_text=name)
            expect(card).to_have_count(1)
            shot(page, "library")
            step(f"library: {name} uploaded and listed")

            # -- segment workbench: superpixels picked with the mouse -------------------------
            image_id = card.get_attribute("data-image-id")
            card.get_by_role("link", name="Segment").click()
            page.wait_for_url(re.compile(r".*/segment\?image=.+"))
            expect(page.locator("#source-status")).to_have_text(f"{name}: {WIDTH}\u00d7{HEIGHT} pixels.")
            step(f"segment workbench on the library image {image_id}")
            step(superpixels_step(page, expect, api, name, picture_bytes))
            shot(page, "segment-superpixels")

            # -- models ----------------------------------------------------------------------
            page.goto("/models")
            for model in ("mri-tumor", "plankton"):
                expect(page.get_by_role("region", name=model)).to_contain_text("Serving version")
            shot(page, "models")
            step("models: mri-tumor and plankton serving")

            # -- MRI -------------------------------------------------------------------------
            slice_name, slice_bytes = mri_picture(arguments.mri_slice)
            step(mri_step(page, expect, slice_name, slice_bytes))
            shot(page, "mri")

            # -- plankton project: run, then review by keyboard ------------------------------
            page.goto("/projects")
            page.get_by_label("Name", exact=True).fill(f"Stack cruise {stamp}")
            page.get_by_role("button", name="Create project").click()
            page.wait_for_url(re.compile(r".*/projects/\d+$"))
            project_id = int(page.url.rsplit("/", 1)[1])
            archive = arguments.frames_zip.read_bytes()
            frames_zip: FilePayload = {"name": "cruise.zip", "mimeType": "application/zip", "buffer": archive}
            page.locator("#frame-files").set_input_files([frames_zip])
            page.get_by_role("button", name="Upload", exact=True).click()
            expect(page.locator("#report-summary")).to_contain_text("imported, 0 rejected", timeout=120_000)
            frames = int(page.locator("#report-summary").inner_text().split()[0])
            run_started = time.monotonic()
            page.get_by_role("button", name="Start a run").click()
            bar = page.get_by_role("progressbar")
            expect(bar).to_have_attribute("aria-valuenow", "100", timeout=arguments.timeout * 1000)
            expect(page.locator("#run-status")).to_contain_text(f"finished: {frames} of {frames} frames")
            shot(page, "project")
            step(f"plankton project {project_id}: {frames} frames uploaded, the run's progress bar "
                 f"reached 100 % in {time.monotonic() - run_started:.1f} s")
            step(review_step(page, expect, api, base, project_id))
            shot(page, "review")

            # -- users -----------------------------------------------------------------------
            step(users_step(page, expect, api, stamp))
            shot(page, "users")
        finally:
            api.close()
            context.close()
            browser.close()
    if outside or errors:
        print(f"  FAILED: requests off the stack {outside}, console errors {errors}", file=sys.stderr)
        return 1
    print(f"UI journey passed in {time.monotonic() - started:.1f} s", flush=True)
    return 0


def superpixels_step(page: Any, expect: Any, api: Api, name: str, picture: bytes) -> str:
    """Draw superpixels, click two with the mouse, compare the selection with the service's."""
    page.get_by_role("tab", name="Superpixels").click()
    panel = page.locator("#panel-superpixels")
    panel.get_by_label("About how many").fill(SUPERPIXELS["n_segments"])
    panel.get_by_label("Compactness").fill(SUPERPIXELS["compactness"])
    panel.locator("#superpixels-sigma").fill(SUPERPIXELS["sigma"])
    panel.get_by_role("button", name="Draw superpixels").click()
    canvas = page.locator("#superpixel-canvas")
    expect(canvas).to_be_visible()
    expect(page.locator("#selection-status")).to_have_text("Nothing selected yet.")

    upload = {"name": name, "mimeType": "image/png", "buffer": picture}
    answer = api.post("/api/v1/segment/superpixels", multipart={
        **SUPERPIXELS, "labels_encoding": "base64", "output": "json", "image": upload})
    check(answer.status == 200, f"superpixels: {answer.status} {answer.text()}")
    labels = np.frombuffer(base64.b64decode(answer.json()["labels"]["data"]), "<u2").reshape(HEIGHT, WIDTH)
    # Two points in two superpixels: the first two disc centres, else any other superpixel.
    first = (14, 14)
    second = next(((r, c) for r, c in [(30, 44), (36, 16), *np.ndindex(HEIGHT, WIDTH)]
                   if labels[r, c] != labels[first]), None)
    check(second is not None, "the picture has a single superpixel")
    assert second is not None
    box = canvas.bounding_box()
    check(box is not None, "the superpixel canvas has no box")
    for row, col in (first, second):
        canvas.click(position={"x": (col + 0.5) * box["width"] / WIDTH,
                               "y": (row + 0.5) * box["height"] / HEIGHT})
    expected = sorted({int(labels[first]), int(labels[second])})
    ids_box = page.get_by_label("Selected superpixel ids (click the image, or type them)")
    expect(ids_box).to_have_value(",".join(map(str, expected)))
    expect(page.locator("#selection-status")).to_have_text("2 superpixels selected.")
    selected = [int(i) for i in ids_box.input_value().split(",")]

    ours = _canvas(page, "#selection-canvas")
    service = api.post("/api/v1/segment/superpixels/selection", multipart={
        **SUPERPIXELS, "ids": ",".join(map(str, selected)), "result": "cutout",
        "background": "white", "output": "png", "image": upload})
    check(service.status == 200, f"superpixels/selection: {service.status} {service.text()}")
    theirs = _decoded(service.body())
    check(ours.shape == theirs.shape == (HEIGHT, WIDTH, 3), f"shapes {ours.shape} {theirs.shape}")
    differ = int((ours != theirs).any(axis=2).sum())
    check(differ == 0, f"the selection shown differs from the service's in {differ} pixels")
    kept = int(np.isin(labels, selected).sum())
    return (f"superpixels: {answer.json()['segment_count']} drawn, ids {selected} clicked on the "
            f"canvas; the selection shown ({kept} pixels) equals /segment/superpixels/selection "
            f"pixel for pixel")


def mri_step(page: Any, expect: Any, name: str, data: bytes) -> str:
    """Classify one slice: a label or the abstention, its probability, the model version and the
    crop box drawn on the slice canvas."""
    page.goto("/mri")
    kind = "application/dicom" if name.lower().endswith(".dcm") else "image/png"
    page.set_input_files("#slice", [{"name": name, "mimeType": kind, "buffer": data}])
    page.get_by_role("button", name="Classify", exact=True).click()
    facts = page.locator("#prediction-facts")
    expect(facts).to_contain_text("mri-tumor version")
    label = page.locator('[data-fact="label"]').inner_text().strip()
    check(label in {"tumor", "healthy", "uncertain"}, f"MRI label {label!r}")
    probability = page.locator('[data-fact="probability"]').inner_text().strip()
    model = page.locator('[data-fact="model"]').inner_text().strip()
    if label == "uncertain":  # the abstention: no probability of a label, the reason shown
        check(probability == "\u2014", f"MRI abstention with a probability {probability!r}")
        expect(page.locator("#warnings")).to_contain_text("Uncertain: ")
        label = f"uncertain, the model abstained ({page.locator('#warnings li').first.inner_text()})"
    else:
        check(bool(re.fullmatch(r"\d+\.\d %", probability)), f"MRI probability {probability!r}")
    expect(page.locator("#crop-text")).to_contain_text("Brain found in rows")
    expect(page.locator("#slice-canvas")).to_be_visible()
    drawn = _canvas(page, "#slice-canvas")
    check(bool(orange(drawn).any()), "no crop box drawn on the slice canvas")
    return (f"MRI: {name} classified {label}, probability {probability}, {model}; the crop box "
            f"drawn on the {drawn.shape[1]}\u00d7{drawn.shape[0]} slice canvas")


def review_step(page: Any, expect: Any, api: Api, base: str, project_id: int) -> str:
    """By keyboard: Space selects the first object, V validates it; → then C re-labels the
    next; both changes found through the API."""
    before = api.objects(project_id)
    check(len(before) >= 2, f"the run found {len(before)} objects")
    page.get_by_role("link", name="Review objects").click()
    page.wait_for_url(base + f"/projects/{project_id}/review")
    options = page.locator("#gallery [role=option]")
    expect(options.nth(1)).to_be_visible()
    # The gallery shows the API's order (the least sure first), a page of it.
    first, second = (int(i) for i in options.evaluate_all(
        "nodes => nodes.slice(0, 2).map(n => n.dataset.id)"))
    check([first, second] == list(before)[:2], f"gallery starts {[first, second]}, the API "
          f"{list(before)[:2]}")
    gallery = page.get_by_role("listbox")
    gallery.focus()
    expect(page.locator("#gallery .active")).to_have_attribute("data-id", str(first))
    page.keyboard.press(" ")
    expect(page.locator("#review-status")).to_have_text("1 selected.")
    page.keyboard.press("v")
    expect(page.locator("#review-status")).to_have_text("1 object validated.")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#gallery .active")).to_have_attribute("data-id", str(second))
    page.keyboard.press("c")
    expect(page.get_by_label("New category", exact=True)).to_be_focused()
    page.keyboard.type(NEW_CATEGORY)
    page.keyboard.press("Enter")
    expect(page.locator("#review-status")).to_have_text(f"1 object re-labelled {NEW_CATEGORY}.")

    after = api.objects(project_id)
    check((after[first]["status"], after[first]["category"]) == ("validated", before[first]["category"]),
          f"object {first} after V: {after[first]}")
    check((after[second]["status"], after[second]["category"]) == ("validated", NEW_CATEGORY),
          f"object {second} after C: {after[second]}")
    untouched = [i for i in before if i not in (first, second) and after[i]["status"] != before[i]["status"]]
    check(not untouched, f"objects changed that were not reviewed: {untouched}")
    return (f"review by keyboard: object {first} validated as {before[first]['category']}, object "
            f"{second} re-labelled {NEW_CATEGORY} (was {before[second]['category']}); the API "
            f"says so, the other {len(before) - 2} unchanged")


def users_step(page: Any, expect: Any, api: Api, stamp: str) -> str:
    """Create a technician in a hospital on /users, deactivate them; both found through the API."""
    made = api.post("/api/v1/hospitals", data={"name": HOSPITAL})
    check(made.status in (201, 409), f"hospital: {made.status} {made.text()}")
    hospital = str(made.json()["id"] if made.status == 201 else made.json()["existing_id"])
    email = f"stack-technician-{stamp}@proof.example"
    page.goto("/users")
    expect(page.locator(f'#new-hospital option[value="{hospital}"]')).to_have_count(1)
    page.get_by_label("Full name").fill("Stack Technician")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password (8 characters to 72 bytes)").fill("correct horse battery")
    page.get_by_label("Role", exact=True).select_option("technician")
    page.get_by_label("Hospital").select_option(hospital)
    page.get_by_role("button", name="Create user").click()
    expect(page.locator("#new-user-status")).to_have_text(f"Created {email} (technician).")
    row = page.locator("#users tbody tr", has_text=email)
    expect(row).to_have_count(1)
    users = api.get("/api/v1/users", hospital=hospital, limit=500)["items"]
    found = [(u["role"], u["hospital"], u["is_active"]) for u in users if u["email"] == email]
    check(found == [("technician", hospital, True)], f"{email} through the API: {found}")

    row.get_by_role("button", name=f"Deactivate {email}").click()
    expect(page.locator("#users-status")).to_have_text(f"{email} is deactivated.")
    expect(row.locator("td").nth(4)).to_have_text("no")
    users = api.get("/api/v1/users", hospital=hospital, limit=500)["items"]
    found = [(u["role"], u["is_active"]) for u in users if u["email"] == email]
    check(found == [("technician", False)], f"{email} after deactivation, through the API: {found}")
    return f"users: technician {email} created in {HOSPITAL} ({hospital}) and deactivated; the API agrees"


if __name__ == "__main__":
    sys.exit(main())

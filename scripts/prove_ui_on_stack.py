"""A short browser journey on a running stack (the compose one, or ``make run``): the web UI as
served by that gateway, in Debian's Chromium driven by Playwright (never ``playwright install``).

    prove_ui_on_stack.py BASE_URL --frames-zip ZIP [--email E] [--password P] [--screenshots DIR]

As the admin (``--password`` or ``SPECIMEN_ADMIN_PASSWORD``): signs in on ``/login``; uploads a
picture to the library; opens it on the segment workbench; finds the serving model versions on
``/models``; creates a plankton project, uploads ``--frames-zip`` (a ZIP of frames) and starts a
run, whose progress bar must reach 100 % with every frame done. Every request the browser makes
must stay on the stack's host, and the pages must raise no console error (the tests/ui rules).
Needs the development venv (Playwright) and ``/usr/bin/chromium`` (``SPECIMEN_TEST_CHROMIUM``).
"""

from __future__ import annotations

import argparse
import os
import re
import struct
import sys
import time
import zlib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

CHROMIUM = os.environ.get("SPECIMEN_TEST_CHROMIUM", "/usr/bin/chromium")


def _png(width: int, height: int) -> bytes:
    """A small gray-gradient PNG with a dark disc (standard library only)."""
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            inside = (x - width / 2) ** 2 + (y - height / 2) ** 2 < (min(width, height) / 4) ** 2
            row.append(40 if inside else 150 + (x * 80) // width)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
            + chunk(b"IEND", b""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("--frames-zip", type=Path, required=True)
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

    def step(text: str) -> None:
        print(f"  ok  [{time.monotonic() - started:6.1f} s] {text}", flush=True)

    def shot(page: Any, name: str) -> None:
        if arguments.screenshots:
            arguments.screenshots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=arguments.screenshots / f"stack-{name}.png", full_page=True)

    with sync_playwright() as api:
        browser = api.chromium.launch(executable_path=CHROMIUM,
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
        page.on("console", lambda m: errors.append(m.text) if m.type == "error"
                and not m.text.startswith("Failed to load resource") else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        print(f"UI journey against {base} (Chromium {browser.version})", flush=True)

        page.goto("/login")
        page.get_by_label("Email").fill(arguments.email)
        page.get_by_label("Password").fill(arguments.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(base + "/")
        step("signed in")

        page.goto("/library")
        name = f"stack-{int(time.time())}.png"
        picture: FilePayload = {"name": name, "mimeType": "image/png", "buffer": _png(64, 48)}
        page.set_input_files("#upload-input", [picture])
        expect(page.locator("#upload-status")).to_have_text("Uploaded 1 of 1 file.")
        card = page.locator(".image-card", has_text=name)
        expect(card).to_have_count(1)
        shot(page, "library")
        step(f"library: {name} uploaded and listed")

        image_id = card.get_attribute("data-image-id")
        card.get_by_role("link", name="Segment").click()
        page.wait_for_url(re.compile(r".*/segment\?image=.+"))
        expect(page.locator("#source-status")).to_have_text(f"{name}: 64\u00d748 pixels.")
        shot(page, "segment")
        step(f"segment workbench on the library image {image_id}")

        page.goto("/models")
        for model in ("mri-tumor", "plankton"):
            expect(page.get_by_role("region", name=model)).to_contain_text("Serving version")
        shot(page, "models")
        step("models: mri-tumor and plankton serving")

        page.goto("/projects")
        page.get_by_label("Name", exact=True).fill(f"Stack cruise {int(time.time())}")
        page.get_by_role("button", name="Create project").click()
        page.wait_for_url(re.compile(r".*/projects/\d+$"))
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
        step(f"plankton project: {frames} frames uploaded, the run's progress bar reached 100 % "
             f"in {time.monotonic() - run_started:.1f} s")
        context.close()
        browser.close()
    if outside or errors:
        print(f"  FAILED: requests off the stack {outside}, console errors {errors}", file=sys.stderr)
        return 1
    print(f"UI journey passed in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Browser tests of the web UI: Debian's Chromium, driven by Playwright, against the real suite.

The suite is the one the suite tests start (real uvicorn processes on loopback, PostgreSQL,
Redis; ``tests/conftest.py``). Chromium is the system's (``/usr/bin/chromium``, Debian's
package; ``SPECIMEN_TEST_CHROMIUM`` names another): Playwright's own browser download is never
used. Without Chromium or Playwright the tests skip, or fail where
``SPECIMEN_TEST_REQUIRE_SERVICES=1`` (CI).

Every page a test opens is held to the same rules by :class:`Browser`: no request leaves
loopback (each is checked and any other is aborted, then the test fails), no console error
(a CSP violation is one), axe-core finds no serious or critical violation, and a screenshot at
desktop and at phone width lands in ``tests/ui/screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from specimen_kit.testing import service_unavailable
from suite_support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PASSWORD,
    Actor,
    RunningSuite,
    ensure_hospital,
    login,
    unique_email,
)

CHROMIUM = os.environ.get("SPECIMEN_TEST_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).parent / "assets" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).parent / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


@pytest.fixture(scope="session")
def playwright_api() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        service_unavailable("Playwright (pip install -r requirements/dev.txt)", error)
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        service_unavailable(f"Chromium at {CHROMIUM} (apt-get install chromium)",
                            FileNotFoundError(CHROMIUM))
    with sync_playwright() as api:
        yield api


@pytest.fixture(scope="session")
def expect(playwright_api: Any) -> Any:
    """Playwright's waiting assertions (``expect(locator).to_have_text(…)``)."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect


@pytest.fixture(scope="session")
def chromium(playwright_api: Any) -> Iterator[Any]:
    # Root in a container has no user namespaces for Chromium's sandbox.
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    browser = playwright_api.chromium.launch(executable_path=CHROMIUM, args=args)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def admin(gateway: httpx.Client) -> Actor:
    token = login(gateway, ADMIN_EMAIL, ADMIN_PASSWORD)["access_token"]
    me = gateway.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).json()
    return Actor(me["id"], ADMIN_EMAIL, me["hospital"], token)


@pytest.fixture
def create_user(gateway: httpx.Client, admin: Actor) -> Callable[..., Actor]:
    """A new user made through the API as the admin (not logged in: the browser does that)."""

    def create(role: str = "technician", hospital: str = "UI Clinic") -> Actor:
        ensure_hospital(gateway, admin, hospital)
        email = unique_email(f"ui-{role}")
        response = gateway.post("/api/v1/users", headers=admin.headers, json={
            "email": email, "full_name": f"{role.title()} Tester", "hospital": hospital,
            "role": role, "password": PASSWORD})
        assert response.status_code == 201, response.text
        return Actor(response.json()["id"], email, response.json()["hospital"], "")

    return create


@dataclass
class Browser:
    """One browser context (a fresh cookie jar) on the suite's gateway, with the checks above."""

    context: Any
    base_url: str
    name: str
    outside: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    pages: list[Any] = field(default_factory=list)

    def new_page(self) -> Any:
        page = self.context.new_page()

        def on_console(message: Any) -> None:
            # An HTTP error answer is logged by Chromium too; the page shows it as the
            # problem's detail, which the tests check. Anything else (a CSP violation, a
            # script error) fails the test.
            if message.type == "error" and not message.text.startswith("Failed to load resource"):
                self.console_errors.append(f"{page.url}: {message.text}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: self.console_errors.append(f"{page.url}: {error}"))
        self.pages.append(page)
        return page

    def sign_in(self, page: Any, email: str, password: str = PASSWORD,
                landing: str = "/") -> None:
        page.goto("/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(self.base_url + landing)

    def cookie(self, name: str) -> dict[str, Any] | None:
        return next((c for c in self.context.cookies() if c["name"] == name), None)

    def check_page(self, page: Any, label: str) -> None:
        """axe-core on the page (0 serious or critical), screenshots at desktop and phone
        width, and no horizontal scrolling at phone width."""
        page.evaluate(AXE.read_text(encoding="utf-8"))
        result = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))")
        serious = [v for v in result if v["impact"] in ("serious", "critical")]
        assert serious == [], f"axe-core on {label}: {serious}"
        SCREENSHOTS.mkdir(exist_ok=True)
        viewport = page.viewport_size
        page.screenshot(path=SCREENSHOTS / f"{self.name}-{label}-desktop.png", full_page=True)
        page.set_viewport_size(PHONE)
        try:
            overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 1:
                wide = page.evaluate(
                    "() => [...document.querySelectorAll('body *')]"
                    ".filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)"
                    ".slice(-5).map(e => e.tagName + '#' + e.id + '.' + e.className)")
                raise AssertionError(
                    f"{label} scrolls sideways by {overflow} px at phone width: {wide}")
            page.screenshot(path=SCREENSHOTS / f"{self.name}-{label}-phone.png", full_page=True)
        finally:
            page.set_viewport_size(viewport)


@pytest.fixture
def browser(chromium: Any, running_suite: RunningSuite,
            request: pytest.FixtureRequest) -> Iterator[Browser]:
    base = running_suite.gateway
    context = chromium.new_context(base_url=base, viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(20_000)
    session = Browser(context, base, request.node.name.removeprefix("test_"))

    def guard(route: Any) -> None:
        url = route.request.url
        host = urlsplit(url).hostname or ""
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and host not in LOOPBACK:
            session.outside.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", guard)
    try:
        yield session
    finally:
        context.close()
    assert session.outside == [], f"requests left loopback: {session.outside}"
    assert session.console_errors == [], f"console errors: {session.console_errors}"

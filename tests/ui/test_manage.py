"""Managing the suite in the browser: users (moderators and admins: create, change role within
the users service's rules, deactivate) and model versions (cards, plots, activation by a
moderator; a technician is told why there is no Activate button)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import cv2
import httpx
import pytest

from specimen_classify.domain.synthetic_plankton import CATEGORIES, plankton_frame
from suite_support import ADMIN_EMAIL, ADMIN_PASSWORD, PASSWORD, Actor, login

pytestmark = [pytest.mark.suite, pytest.mark.ui]


class TestUsers:
    def test_a_moderator_creates_a_technician_then_deactivates_them(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor], admin: Actor,
        gateway: httpx.Client,
    ) -> None:
        moderator = create_user("moderator", hospital="UI Managed Clinic")
        page = browser.new_page()
        browser.sign_in(page, moderator.email)
        page.goto("/users")
        expect(page.get_by_label("Hospital")).to_have_value(moderator.hospital)

        # The users service's rules, shown as its problem: a moderator makes no admins.
        page.get_by_label("Full name").fill("Ada Admin")
        page.get_by_label("Email").fill("ada-admin-ui@suite.test")
        page.get_by_label("Password (8 characters to 72 bytes)").fill("correct horse battery")
        page.get_by_label("Role", exact=True).select_option("admin")
        page.get_by_role("button", name="Create user").click()
        expect(page.locator("#new-user-problem")).to_be_visible()
        assert page.locator("#new-user-problem").inner_text().strip() != ""

        email = f"tech-of-{moderator.email}"
        page.get_by_label("Email").fill(email)
        page.get_by_label("Role", exact=True).select_option("technician")
        page.get_by_role("button", name="Create user").click()
        expect(page.locator("#new-user-status")).to_have_text(f"Created {email} (technician).")
        row = page.locator("#users tbody tr", has_text=email)
        expect(row).to_have_count(1)
        browser.check_page(page, "users")

        row.get_by_role("button", name=f"Deactivate {email}").click()
        expect(page.locator("#users-status")).to_have_text(f"{email} is deactivated.")
        users = gateway.get("/api/v1/users", headers=admin.headers,
                            params={"hospital": moderator.hospital, "limit": 500}).json()["items"]
        assert [u["is_active"] for u in users if u["email"] == email] == [False]

    def test_an_admin_changes_a_role_and_a_moderator_is_told_that_roles_are_the_admins(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor], admin: Actor,
        gateway: httpx.Client,
    ) -> None:
        moderator = create_user("moderator", hospital="UI Roles Clinic")
        technician = create_user("technician", hospital="UI Roles Clinic")
        page = browser.new_page()
        browser.sign_in(page, moderator.email)
        page.goto("/users")
        expect(page.locator("#users tbody tr", has_text=technician.email)).to_have_count(1)
        expect(page.get_by_label(f"Role of {technician.email}", exact=True)).to_be_disabled()
        expect(page.locator("#roles-note")).to_contain_text("Only admins change a role")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(browser.base_url + "/login")

        browser.sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD)
        page.goto("/users")
        role = page.get_by_label(f"Role of {technician.email}", exact=True)
        expect(role).to_have_value("technician")
        expect(page.locator("#roles-note")).to_be_hidden()
        expect(page.get_by_label(f"Role of {ADMIN_EMAIL}", exact=True)).to_be_disabled()  # one's own
        role.select_option("moderator")
        expect(page.locator("#users-status")).to_have_text(f"{technician.email} is now moderator.")
        expect(page.get_by_label(f"Role of {technician.email}", exact=True)).to_have_value("moderator")
        browser.check_page(page, "users-admin")
        users = gateway.get("/api/v1/users", headers=admin.headers,
                            params={"hospital": moderator.hospital, "limit": 500}).json()["items"]
        assert [u["role"] for u in users if u["email"] == technician.email] == ["moderator"]

    def test_a_technician_has_no_users_link_and_the_page_says_why(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
    ) -> None:
        technician = create_user()
        page = browser.new_page()
        browser.sign_in(page, technician.email)
        expect(page.locator('nav [data-nav="/users"]')).to_be_hidden()
        page.goto("/users")
        expect(page.locator("#page-problem")).to_contain_text("moderator")


class TestModels:
    def test_versions_cards_and_plots(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor], admin: Actor,
        gateway: httpx.Client,
    ) -> None:
        moderator = create_user("moderator")
        page = browser.new_page()
        browser.sign_in(page, moderator.email)
        page.goto("/models")
        section = page.get_by_role("region", name="mri-tumor")
        expect(section).to_contain_text("Serving version")
        section.get_by_role("button", name="Card of version 1").click()
        expect(page.locator("#card-title")).to_have_text("Model card: mri-tumor version 1")
        # The card's metrics, per split (the cards nest them: {"test": {...}, ...}).
        metrics = page.locator("#card-metrics")
        expect(metrics.locator("thead th", has_text="test")).to_have_count(1)
        accuracy = metrics.locator("tbody tr", has=page.locator('th:text-is("accuracy")'))
        expect(accuracy).to_have_count(1)
        card = gateway.get("/api/v1/models/mri-tumor/versions/1", headers=admin.headers).json()
        test_column = metrics.locator("thead th").evaluate_all(
            "cells => cells.map(c => c.textContent)").index("test")
        shown = accuracy.locator("th, td").nth(test_column).inner_text()
        assert float(shown) == pytest.approx(card["card"]["metrics"]["test"]["accuracy"], abs=5e-4)
        page.wait_for_function("() => [...document.querySelectorAll('#card-plots img')]"
                               ".every(img => img.complete && img.naturalWidth > 0)")
        expect(page.locator("#card-plots img")).not_to_have_count(0)
        browser.check_page(page, "models")


def _wait_for_job(gateway: httpx.Client, auth: dict[str, str], location: str) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    job = gateway.get(location, headers=auth).json()
    while job["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.3)
        job = gateway.get(location, headers=auth).json()
    return dict(job)


def _train_a_new_plankton_version(gateway: httpx.Client, auth: dict[str, str]) -> int:
    """A second plankton version, made as a moderator would through the API: a project of
    generated frames, run, its objects validated into two categories, a training job (which
    registers the version without activating it)."""
    project_id = int(gateway.post("/api/v1/projects", headers=auth,
                                  json={"name": "Training cruise"}).json()["id"])
    for batch in range(3):
        files = []
        for i in range(2):
            frame = plankton_frame((21, batch, i), dict.fromkeys(CATEGORIES, 1), 160, 160).image
            ok, data = cv2.imencode(".png", frame)
            assert ok
            files.append(("image", (f"f{batch}-{i}.png", data.tobytes(), "image/png")))
        uploaded = gateway.post(f"/api/v1/projects/{project_id}/frames", headers=auth, files=files)
        assert uploaded.status_code == 201, uploaded.text
    started = gateway.post(f"/api/v1/projects/{project_id}/runs", headers=auth, json={})
    assert started.status_code == 202, started.text
    assert _wait_for_job(gateway, auth, started.headers["location"])["status"] == "succeeded"
    ids = [o["id"] for o in gateway.get(f"/api/v1/projects/{project_id}/objects", headers=auth,
                                        params={"limit": 500}).json()["items"]]
    assert len(ids) >= 20, ids
    half = len(ids) // 2
    for category, chosen in ((CATEGORIES[0], ids[:half]), (CATEGORIES[1], ids[half:])):
        labelled = gateway.post(f"/api/v1/projects/{project_id}/objects/annotations", headers=auth,
                                json={"ids": chosen, "category": category, "status": "validated"})
        assert labelled.status_code == 200, labelled.text
    training = gateway.post("/api/v1/models/plankton/trainings", headers=auth,
                            json={"project_ids": [project_id], "n_estimators": 5})
    assert training.status_code == 202, training.text
    job = _wait_for_job(gateway, auth, training.headers["location"])
    assert job["status"] == "succeeded", job
    versions = gateway.get("/api/v1/models/plankton", headers=auth).json()["versions"]
    return max(int(v["version"]) for v in versions)


class TestActivation:
    def test_a_moderator_activates_a_version_and_a_technician_is_told_why_they_cannot(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
        gateway: httpx.Client,
    ) -> None:
        moderator = create_user("moderator", hospital="UI Models Lab")
        auth = {"Authorization": f"Bearer {login(gateway, moderator.email, PASSWORD)['access_token']}"}
        serving = gateway.get("/api/v1/models/plankton", headers=auth).json()["active"]["version"]
        new = _train_a_new_plankton_version(gateway, auth)
        assert new != serving

        page = browser.new_page()
        browser.sign_in(page, moderator.email)
        page.goto("/models")
        section = page.get_by_role("region", name="plankton", exact=True)
        expect(section).to_contain_text(f"Serving version {serving}.")
        expect(page.locator("#activate-note")).to_be_hidden()
        section.get_by_role("button", name=f"Card of version {new}").click()
        expect(page.locator("#card-title")).to_have_text(f"Model card: plankton version {new}")
        expect(page.locator("#card-facts")).to_contain_text("activeno")
        try:
            section.get_by_role("button", name=f"Activate version {new}").click()
            expect(page.locator("#models-status")).to_have_text(f"plankton now serves version {new}.")
            expect(section).to_contain_text(f"Serving version {new}.")
            row = section.locator("tbody tr", has=page.locator(f'th:text-is("{new}")'))
            expect(row.locator("td").nth(1)).to_have_text("yes")
            expect(row.get_by_role("button", name=f"Activate version {new}")).to_have_count(0)
            expect(page.locator("#card-facts")).to_contain_text("activeyes")  # the open card too
            assert gateway.get("/api/v1/models/plankton", headers=auth).json()["active"]["version"] == new
            browser.check_page(page, "models-activated")

            technician = create_user("technician", hospital="UI Models Lab")
            other = browser.context.browser.new_context(base_url=browser.base_url)
            try:
                other.route("**/*", lambda route: route.continue_()
                            if route.request.url.startswith(browser.base_url) else route.abort())
                tech_page = other.new_page()
                tech_page.goto("/login")
                tech_page.get_by_label("Email").fill(technician.email)
                tech_page.get_by_label("Password").fill(PASSWORD)
                tech_page.get_by_role("button", name="Sign in").click()
                tech_page.wait_for_url(browser.base_url + "/")
                tech_page.goto("/models")
                tech_section = tech_page.get_by_role("region", name="plankton", exact=True)
                expect(tech_section).to_contain_text(f"Serving version {new}.")
                expect(tech_page.get_by_role("button", name="Card of version 1")).not_to_have_count(0)
                expect(tech_page.get_by_role("button", name=f"Activate version {serving}")).to_have_count(0)
                expect(tech_page.locator("#activate-note")).to_be_visible()
                expect(tech_page.locator("#activate-note")).to_contain_text("moderators and admins")
            finally:
                other.close()

            # Back to the version the other tests expect, through the page again.
            section.get_by_role("button", name=f"Activate version {serving}").click()
            expect(page.locator("#models-status")).to_have_text(
                f"plankton now serves version {serving}.")
        finally:
            gateway.post(f"/api/v1/models/plankton/versions/{serving}/activate", headers=auth)
        assert gateway.get("/api/v1/models/plankton", headers=auth).json()["active"]["version"] == serving

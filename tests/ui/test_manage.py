"""Managing the suite in the browser: users (moderators and admins) and model versions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from suite_support import Actor

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
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
    ) -> None:
        moderator = create_user("moderator")
        page = browser.new_page()
        browser.sign_in(page, moderator.email)
        page.goto("/models")
        section = page.get_by_role("region", name="mri-tumor")
        expect(section).to_contain_text("Serving version")
        section.get_by_role("button", name="Card of version 1").click()
        expect(page.locator("#card-title")).to_have_text("Model card: mri-tumor version 1")
        page.wait_for_function("() => [...document.querySelectorAll('#card-plots img')]"
                               ".every(img => img.complete && img.naturalWidth > 0)")
        expect(page.locator("#card-plots img")).not_to_have_count(0)
        browser.check_page(page, "models")

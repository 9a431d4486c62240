"""Sign in and out, the session across reloads, who am I, and changing the password."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from suite_support import PASSWORD, Actor

pytestmark = [pytest.mark.suite, pytest.mark.ui]


class TestSignIn:
    def test_a_page_without_a_session_asks_to_sign_in_then_returns_to_it(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
    ) -> None:
        user = create_user()
        page = browser.new_page()
        page.goto("/account")
        assert page.url == browser.base_url + "/login?next=/account"
        # htmx runs under the CSP (no eval, no inline style) and carries the CSRF header.
        assert page.evaluate("() => typeof htmx.ajax") == "function"
        browser.check_page(page, "login")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(browser.base_url + "/account")
        me = page.locator("#me")
        expect(me.locator('[data-field="email"]')).to_have_text(user.email)
        expect(me.locator('[data-field="role"]')).to_have_text("technician")
        expect(page.locator("#whoami")).to_have_text("Technician Tester (technician)")
        browser.check_page(page, "account")

    def test_a_wrong_password_shows_the_problem_detail(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
    ) -> None:
        user = create_user()
        page = browser.new_page()
        page.goto("/login")
        page.get_by_label("Email").fill(user.email)
        page.get_by_label("Password").fill("not the password")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#login-problem [role=alert]")).to_contain_text("password")
        assert page.url == browser.base_url + "/login"
        assert browser.cookie("specimen_access") is None

    def test_the_token_lives_only_in_httponly_strict_cookies(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
    ) -> None:
        user = create_user()
        page = browser.new_page()
        browser.sign_in(page, user.email)
        cookies = {c["name"]: c for c in browser.context.cookies()}
        assert set(cookies) >= {"specimen_access", "specimen_refresh", "specimen_csrf"}
        for cookie in cookies.values():
            assert cookie["httpOnly"] is True
            assert cookie["sameSite"] == "Strict"
        assert cookies["specimen_refresh"]["path"] == "/ui/session"
        assert page.evaluate("document.cookie") == ""
        token = cookies["specimen_access"]["value"]
        storage = page.evaluate("JSON.stringify({...localStorage, ...sessionStorage})")
        assert token not in storage
        assert token not in page.content()

    def test_an_unsafe_request_without_the_pages_csrf_token_is_refused(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
    ) -> None:
        user = create_user()
        page = browser.new_page()
        browser.sign_in(page, user.email)
        page.goto("/library")
        forged = page.evaluate("""() => fetch('/api/v1/images', {method: 'POST',
            headers: {'Content-Type': 'image/png'}, body: new Uint8Array([137, 80])})
            .then(async r => [r.status, (await r.json()).type])""")
        assert forged == [403, "https://specimen.dev/problems/csrf-rejected"]
        wrong = page.evaluate("""() => fetch('/api/v1/images/1', {method: 'DELETE',
            headers: {'X-CSRF-Token': 'guessed'}}).then(r => r.status)""")
        assert wrong == 403


class TestKeyboard:
    def test_sign_in_and_reach_the_library_with_the_keyboard_alone_with_visible_focus(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
    ) -> None:
        user = create_user()
        page = browser.new_page()
        page.goto("/login")

        def tab_to(selector: str, presses: int = 8) -> None:
            for _ in range(presses):
                page.keyboard.press("Tab")
                if page.evaluate(f"() => document.activeElement.matches({selector!r})"):
                    return
            raise AssertionError(f"Tab never reached {selector}")

        tab_to("a.skip-link")
        expect(page.locator("a.skip-link")).to_be_in_viewport()  # shown when focused
        tab_to("#email")
        page.keyboard.type(user.email)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(browser.base_url + "/")
        tab_to('nav a[href="/library"]')
        outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
        assert outline not in ("", "none")
        page.keyboard.press("Enter")
        page.wait_for_url(browser.base_url + "/library")
        tab_to("#sign-out", presses=12)
        page.keyboard.press("Enter")
        page.wait_for_url(browser.base_url + "/login")


class TestSessionLifetime:
    def test_the_session_survives_a_reload_and_an_expired_access_cookie(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor],
    ) -> None:
        user = create_user()
        page = browser.new_page()
        browser.sign_in(page, user.email)
        page.reload()
        expect(page.locator("#whoami")).to_contain_text("Technician Tester")
        expect(page.locator("#home-name")).to_have_text("Technician Tester")  # the home page
        expect(page.locator('.tiles [data-nav="/users"]')).to_be_hidden()  # not a technician's tile
        browser.check_page(page, "home")
        first_refresh = browser.cookie("specimen_refresh")["value"]
        # The access token's cookie ends with the token: the page refreshes the session.
        browser.context.clear_cookies(name="specimen_access")
        page.goto("/account")
        expect(page.locator('#me [data-field="email"]')).to_have_text(user.email)
        assert browser.cookie("specimen_access") is not None
        assert browser.cookie("specimen_refresh")["value"] != first_refresh  # rotated

    def test_sign_out_ends_the_session_and_revokes_its_token(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor], gateway: httpx.Client,
    ) -> None:
        user = create_user()
        page = browser.new_page()
        browser.sign_in(page, user.email)
        expect(page.locator("#whoami")).to_contain_text("Technician Tester")
        token = browser.cookie("specimen_access")["value"]
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(browser.base_url + "/login")
        assert browser.cookie("specimen_access") is None
        assert browser.cookie("specimen_refresh") is None
        page.goto("/library")
        assert page.url.startswith(browser.base_url + "/login?next=")
        revoked = gateway.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert revoked.status_code == 401


class TestChangePassword:
    def test_a_wrong_current_password_shows_the_detail_then_a_change_signs_out(
        self, expect: Any, browser: Any, create_user: Callable[..., Actor], gateway: httpx.Client,
    ) -> None:
        user = create_user()
        page = browser.new_page()
        browser.sign_in(page, user.email, landing="/")
        page.goto("/account")
        page.get_by_label("Current password").fill("wrong password here")
        page.get_by_label("New password").fill("a brand new password")
        page.get_by_role("button", name="Change password").click()
        expect(page.locator("#password-problem")).to_contain_text("current password")

        page.get_by_label("Current password").fill(PASSWORD)
        page.get_by_role("button", name="Change password").click()
        page.wait_for_url(browser.base_url + "/login?reason=password-changed")
        expect(page.locator(".notice")).to_contain_text("password was changed")
        browser.sign_in(page, user.email, password="a brand new password")
        old = gateway.post("/api/v1/auth/login", json={"email": user.email, "password": PASSWORD})
        assert old.status_code == 401

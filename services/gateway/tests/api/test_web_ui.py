"""The web UI as the gateway serves it: pages, assets, headers, the cookie session and CSRF.

The browser journeys are in ``tests/ui`` (Chromium against the real suite); these check the
gateway's side over HTTP, against the fake upstreams that echo what they receive.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from specimen_gateway.web.security import CONTENT_SECURITY_POLICY

ROOT = Path(__file__).resolve().parents[4]


def signed_in(client: httpx.Client, token: str, csrf: str = "the-csrf") -> httpx.Client:
    client.cookies.set("specimen_access", token)
    client.cookies.set("specimen_csrf", csrf)
    return client


class TestPages:
    def test_the_login_page_is_served_with_a_strict_csp_and_a_csrf_cookie(
        self, gateway: Callable[..., httpx.Client]) -> None:
        response = gateway().get("/login")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        csp = response.headers["content-security-policy"]
        assert csp == CONTENT_SECURITY_POLICY
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith("specimen_csrf=")
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
        token = cookie.split(";")[0].split("=", 1)[1]
        assert f'content="{token}"' in response.text
        assert "<script>" not in response.text and " style=" not in response.text

    @pytest.mark.parametrize("path", ["/", "/library", "/segment", "/account"])
    def test_a_page_without_a_session_goes_by_resume_to_sign_in(
        self, gateway: Callable[..., httpx.Client], path: str) -> None:
        client = gateway()
        response = client.get(path, params={"image": "7"} if path == "/segment" else None)
        assert response.status_code == 303
        expected = "/ui/session/resume?next=" + path + ("?image=7" if path == "/segment" else "")
        assert response.headers["location"].replace("%3F", "?").replace("%3D", "=") == expected
        resumed = client.get(response.headers["location"])
        assert resumed.status_code == 303
        assert resumed.headers["location"].startswith("/login?next=" + path)

    def test_a_page_with_a_session_cookie_renders(
        self, gateway: Callable[..., httpx.Client], token_for: Callable[..., str]) -> None:
        response = signed_in(gateway(), token_for()).get("/library")
        assert response.status_code == 200
        assert 'name="csrf-token" content="the-csrf"' in response.text
        assert "/ui/static/ui/library.js" in response.text

    def test_login_refuses_a_next_outside_the_site(
        self, gateway: Callable[..., httpx.Client]) -> None:
        response = gateway().get("/login", params={"next": "//evil.example/x"})
        assert 'name="next" value="/"' in response.text

    def test_an_unknown_query_parameter_is_still_a_422(
        self, gateway: Callable[..., httpx.Client]) -> None:
        assert gateway().get("/login", params={"nope": "1"}).status_code == 422

    def test_ui_paths_stay_out_of_the_openapi_document(
        self, gateway: Callable[..., httpx.Client]) -> None:
        paths = gateway().get("/openapi.json").json()["paths"]
        assert not [path for path in paths if path in {"/", "/login", "/library"}
                    or path.startswith("/ui/")]


class TestProjectPages:
    @pytest.mark.parametrize(("path", "script"), [
        ("/projects", "projects.js"), ("/projects/12", "project.js"),
        ("/projects/12/review", "review.js")])
    def test_the_project_pages_render_with_a_session_and_the_csp(
        self, gateway: Callable[..., httpx.Client], token_for: Callable[..., str],
        path: str, script: str) -> None:
        response = signed_in(gateway(), token_for()).get(path)
        assert response.status_code == 200
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert f"/ui/static/ui/{script}" in response.text
        assert "<script>" not in response.text and " style=" not in response.text
        assert 'href="/projects" aria-current="page"' in response.text
        if path != "/projects":
            assert 'data-project-id="12"' in response.text

    @pytest.mark.parametrize("path", ["/projects/abc", "/projects/0", "/projects/12/nope",
                                      "/projects/", "/projects/1e3", "/projects/12/review/x",
                                      "/projects/" + "9" * 30])
    def test_any_other_path_under_projects_is_the_not_found_page(
        self, gateway: Callable[..., httpx.Client], token_for: Callable[..., str],
        path: str) -> None:
        response = signed_in(gateway(), token_for()).get(path)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "There is no such page here" in response.text
        assert 'id="not-found" class="card" hidden' not in response.text

    def test_a_project_page_without_a_session_goes_by_resume_to_sign_in(
        self, gateway: Callable[..., httpx.Client]) -> None:
        response = gateway().get("/projects/7/review")
        assert response.status_code == 303
        assert response.headers["location"] == "/ui/session/resume?next=/projects/7/review"

    def test_the_api_projects_are_still_proxied(
        self, gateway: Callable[..., httpx.Client], token_for: Callable[..., str]) -> None:
        # /projects/… is the UI's; /api/v1/projects/… still goes to classify.
        response = gateway().get("/api/v1/projects/7",
                                 headers={"Authorization": f"Bearer {token_for()}"})
        assert "There is no such page here" not in response.text


class TestAssets:
    def test_htmx_is_served_from_the_gateway_with_the_security_headers(
        self, gateway: Callable[..., httpx.Client]) -> None:
        response = gateway().get("/ui/static/vendor/htmx/htmx.min.js")
        assert response.status_code == 200
        assert "javascript" in response.headers["content-type"]
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY

    def test_the_vendored_files_match_their_pinned_checksums(self) -> None:
        sys.path.insert(0, str(ROOT / "scripts"))
        try:
            import vendor_assets
        finally:
            sys.path.remove(str(ROOT / "scripts"))
        assert vendor_assets.check() == []


class TestCookieSession:
    def test_the_cookie_token_reaches_the_service_as_a_bearer_token_without_cookies(
        self, gateway: Callable[..., httpx.Client], token_for: Callable[..., str]) -> None:
        token = token_for()
        client = signed_in(gateway(), token)
        client.cookies.set("theme", "dark")
        response = client.get("/api/v1/images")
        assert response.status_code == 200, response.text
        headers = dict(response.json()["headers"])
        assert headers["authorization"] == f"Bearer {token}"
        assert headers["cookie"] == "theme=dark"

    def test_an_unsafe_request_with_the_cookie_needs_the_csrf_header(
        self, gateway: Callable[..., httpx.Client], token_for: Callable[..., str]) -> None:
        client = signed_in(gateway(), token_for())
        refused = client.delete("/api/v1/images/1")
        assert refused.status_code == 403
        assert refused.json()["type"].endswith("/csrf-rejected")
        wrong = client.delete("/api/v1/images/1", headers={"X-CSRF-Token": "other"})
        assert wrong.status_code == 403
        allowed = client.delete("/api/v1/images/1", headers={"X-CSRF-Token": "the-csrf"})
        assert allowed.status_code == 200
        assert allowed.json()["method"] == "DELETE"

    def test_a_script_with_its_own_bearer_token_needs_no_csrf_token(
        self, gateway: Callable[..., httpx.Client], token_for: Callable[..., str]) -> None:
        client = signed_in(gateway(), "not-a-token")
        token = token_for()
        response = client.post("/api/v1/segment/threshold",
                               headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
        assert dict(response.json()["headers"])["authorization"] == f"Bearer {token}"

    def test_a_bad_cookie_token_is_a_401_like_a_bad_bearer_token(
        self, gateway: Callable[..., httpx.Client]) -> None:
        response = signed_in(gateway(), "garbage").get("/api/v1/images")
        assert response.status_code == 401


class TestSessionRoutes:
    def test_sign_in_without_the_csrf_token_is_refused(
        self, gateway: Callable[..., httpx.Client]) -> None:
        client = gateway()
        client.get("/login")
        response = client.post("/ui/session", data={"email": "a@b.c", "password": "x" * 8})
        assert response.status_code == 403
        assert response.json()["type"].endswith("/csrf-rejected")

    def test_a_users_answer_without_tokens_is_a_503_not_a_500(
        self, gateway: Callable[..., httpx.Client]) -> None:
        # The fake users service echoes the request with a 200 and no tokens.
        client = gateway()
        csrf = client.get("/login").cookies["specimen_csrf"]
        response = client.post("/ui/session", json={"email": "a@b.c", "password": "x" * 8},
                               headers={"X-CSRF-Token": csrf})
        assert response.status_code == 503
        assert "specimen_access" not in response.headers.get("set-cookie", "")

    def test_refresh_without_a_session_is_a_401(
        self, gateway: Callable[..., httpx.Client]) -> None:
        client = gateway()
        csrf = client.get("/login").cookies["specimen_csrf"]
        response = client.post("/ui/session/refresh", headers={"X-CSRF-Token": csrf})
        assert response.status_code == 401

    def test_logout_clears_the_cookies(
        self, gateway: Callable[..., httpx.Client], token_for: Callable[..., str]) -> None:
        client = signed_in(gateway(), token_for())
        response = client.post("/ui/session/logout", headers={"X-CSRF-Token": "the-csrf"})
        assert response.status_code == 204
        cleared = response.headers.get_list("set-cookie")
        assert any(c.startswith('specimen_access=""') or c.startswith("specimen_access=;")
                   for c in cleared), cleared

    def test_cookies_are_secure_behind_a_tls_proxy(
        self, gateway: Callable[..., httpx.Client]) -> None:
        client = gateway(trusted_proxies_text="127.0.0.1")
        response = client.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in response.headers["set-cookie"]

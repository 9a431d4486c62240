"""The route table: owners, roles, 404 and 405."""

from __future__ import annotations

import pytest

from specimen_gateway.domain.routes import (
    ROUTES,
    MethodNotAllowed,
    NoRoute,
    RouteRule,
    RouteTable,
    compile_pattern,
)
from specimen_kit.roles import Role

TABLE = RouteTable()


class TestResolve:
    @pytest.mark.parametrize(("method", "path", "upstream", "role"), [
        ("POST", "/api/v1/auth/login", "users", None),
        ("POST", "/api/v1/auth/refresh", "users", None),
        ("POST", "/api/v1/auth/logout", "users", None),
        ("GET", "/.well-known/jwks.json", "users", None),
        ("GET", "/api/v1/auth/me", "users", Role.TECHNICIAN),
        ("GET", "/api/v1/users", "users", Role.MODERATOR),
        ("POST", "/api/v1/users", "users", Role.MODERATOR),
        ("PUT", "/api/v1/users/me/password", "users", Role.TECHNICIAN),
        ("GET", "/api/v1/users/12", "users", Role.TECHNICIAN),
        ("PATCH", "/api/v1/users/12", "users", Role.TECHNICIAN),
        ("DELETE", "/api/v1/users/12", "users", Role.MODERATOR),
        ("GET", "/api/v1/hospitals", "users", Role.TECHNICIAN),
        ("POST", "/api/v1/hospitals", "users", Role.ADMIN),
        ("GET", "/api/v1/hospitals/saint-luc", "users", Role.TECHNICIAN),
        ("PATCH", "/api/v1/hospitals/saint-luc", "users", Role.ADMIN),
        ("POST", "/api/v1/segment/otsu", "segment", Role.TECHNICIAN),
        ("GET", "/api/v1/segment", "segment", Role.TECHNICIAN),
        ("DELETE", "/api/v1/images/5/mask", "segment", Role.TECHNICIAN),
        ("GET", "/api/v1/images", "segment", Role.TECHNICIAN),
        ("POST", "/api/v1/classify/tumor", "classify", Role.TECHNICIAN),
        ("PATCH", "/api/v1/scans/9", "classify", Role.TECHNICIAN),
        ("POST", "/api/v1/projects", "classify", Role.TECHNICIAN),
        ("DELETE", "/api/v1/projects/3/members/9", "classify", Role.TECHNICIAN),
        ("POST", "/api/v1/projects/3/frames", "classify", Role.TECHNICIAN),
        ("POST", "/api/v1/projects/3/objects/annotations", "classify", Role.TECHNICIAN),
        ("GET", "/api/v1/frames/4/tiles/0/0/0.png", "classify", Role.TECHNICIAN),
        ("DELETE", "/api/v1/frames/4", "classify", Role.TECHNICIAN),
        ("GET", "/api/v1/objects/5/mask.png", "classify", Role.TECHNICIAN),
        ("POST", "/api/v1/jobs/6/cancel", "classify", Role.TECHNICIAN),
        ("GET", "/api/v1/exports/7/content", "classify", Role.TECHNICIAN),
        ("GET", "/api/v1/models/cnn", "classify", Role.TECHNICIAN),
        ("HEAD", "/api/v1/models", "classify", Role.TECHNICIAN),
        ("POST", "/api/v1/models/cnn/train", "classify", Role.MODERATOR),
        ("DELETE", "/api/v1/models/cnn", "classify", Role.MODERATOR),
    ])
    def test_each_route_has_its_owner_and_role(
        self, method: str, path: str, upstream: str, role: Role | None
    ) -> None:
        rule = TABLE.resolve(method, path)
        assert (rule.upstream, rule.minimum_role) == (upstream, role)

    @pytest.mark.parametrize("path", [
        "/", "/api/v1", "/api/v1/segmentation", "/api/v1/users/1/extra", "/api/v1/users/",
        "/api/v1/auth", "/api/v1/imagesx/1", "/api/v1/segment/../users",
        "/api/v1/images/./1", "/api/v1/projectsx", "/api/v1/frame/1",
    ])
    def test_unlisted_paths_are_no_route(self, path: str) -> None:
        with pytest.raises(NoRoute) as caught:
            TABLE.resolve("GET", path)
        assert caught.value.status == 404

    def test_a_known_path_with_another_method_is_405_with_allow(self) -> None:
        with pytest.raises(MethodNotAllowed) as caught:
            TABLE.resolve("PUT", "/api/v1/users/3")
        assert caught.value.status == 405
        assert caught.value.headers["Allow"] == "DELETE, GET, HEAD, PATCH"

    def test_hospitals_are_never_deleted(self) -> None:
        with pytest.raises(MethodNotAllowed) as caught:
            TABLE.resolve("DELETE", "/api/v1/hospitals/saint-luc")
        assert caught.value.allowed == ["GET", "HEAD", "PATCH"]

    def test_405_lists_only_the_login_method(self) -> None:
        with pytest.raises(MethodNotAllowed) as caught:
            TABLE.resolve("GET", "/api/v1/auth/login")
        assert caught.value.allowed == ["POST"]

    def test_first_matching_entry_wins(self) -> None:
        table = RouteTable([
            RouteRule("/a/**", frozenset({"GET"}), "one", None),
            RouteRule("/a/{x}", None, "two", Role.ADMIN),
        ])
        assert table.resolve("GET", "/a/b").upstream == "one"
        assert table.resolve("POST", "/a/b").upstream == "two"

    def test_owner_ignores_the_method(self) -> None:
        assert TABLE.owner("/api/v1/users/{user_id}") == "users"
        assert TABLE.owner("/healthz") is None


class TestPatterns:
    def test_the_table_compiles(self) -> None:
        assert all(compile_pattern(rule.pattern) for rule in ROUTES)

    @pytest.mark.parametrize("pattern", ["api/v1", "/a/x{id}", "/a/*/b"])
    def test_malformed_patterns_are_refused(self, pattern: str) -> None:
        with pytest.raises(ValueError, match="route pattern"):
            compile_pattern(pattern)

    def test_prefix_pattern_matches_bare_prefix_and_below_only(self) -> None:
        regex = compile_pattern("/api/v1/images/**")
        assert regex.match("/api/v1/images")
        assert regex.match("/api/v1/images/1/mask")
        assert not regex.match("/api/v1/images2")

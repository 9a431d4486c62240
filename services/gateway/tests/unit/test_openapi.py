"""Merging the services' OpenAPI documents."""

from __future__ import annotations

from typing import Any

from specimen_gateway.domain.openapi import merge_documents, rewrite_refs

REF = "#/components/schemas/"


def _doc(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {"openapi": "3.1.0", "info": {"title": "x", "version": "1"}, "paths": paths,
            "components": {"schemas": schemas,
                           "securitySchemes": {"Bearer": {"type": "http"}}}}


def _returns(name: str) -> dict[str, Any]:
    return {"post": {"security": [{"Bearer": []}], "responses": {"200": {"content": {
        "application/json": {"schema": {"$ref": REF + name}}}}}}}


def _keep_all(service: str, path: str) -> bool:
    return True


class TestMerge:
    def test_identical_schemas_appear_once(self) -> None:
        same = {"type": "string"}
        merged = merge_documents({"users": _doc({}, {"Id": same}),
                                  "segment": _doc({}, {"Id": dict(same)})}, keep=_keep_all)
        assert merged["components"]["schemas"] == {"Id": same}

    def test_colliding_schema_is_renamed_and_its_refs_rewritten(self) -> None:
        users = _doc({"/u": _returns("Item")}, {"Item": {"type": "string"}})
        segment = _doc({"/s": _returns("Page")}, {
            "Item": {"type": "integer"},
            "Page": {"type": "object", "properties": {"items": {"$ref": REF + "Item"}}},
        })
        merged = merge_documents({"users": users, "segment": segment}, keep=_keep_all)
        schemas = merged["components"]["schemas"]
        assert schemas["Item"] == {"type": "string"}
        assert schemas["SegmentItem"] == {"type": "integer"}
        assert schemas["Page"]["properties"]["items"]["$ref"] == REF + "SegmentItem"
        assert merged["paths"]["/u"]["post"]["responses"]["200"]["content"][
            "application/json"]["schema"]["$ref"] == REF + "Item"

    def test_a_schema_is_renamed_when_only_its_references_differ(self) -> None:
        wrapper = {"type": "object", "properties": {"x": {"$ref": REF + "Inner"}}}
        users = _doc({}, {"Inner": {"type": "string"}, "Wrapper": wrapper})
        segment = _doc({"/s": _returns("Wrapper")},
                       {"Inner": {"type": "integer"}, "Wrapper": dict(wrapper)})
        merged = merge_documents({"users": users, "segment": segment}, keep=_keep_all)
        schemas = merged["components"]["schemas"]
        assert schemas["SegmentWrapper"]["properties"]["x"]["$ref"] == REF + "SegmentInner"
        assert merged["paths"]["/s"]["post"]["responses"]["200"]["content"][
            "application/json"]["schema"]["$ref"] == REF + "SegmentWrapper"

    def test_one_oauth2_scheme_replaces_the_services_schemes(self) -> None:
        merged = merge_documents({"users": _doc({"/u": _returns("A")}, {"A": {}})},
                                 keep=_keep_all)
        assert list(merged["components"]["securitySchemes"]) == ["OAuth2PasswordBearer"]
        flow = merged["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
        assert flow == {"password": {"tokenUrl": "/api/v1/auth/login", "scopes": {}}}
        assert merged["paths"]["/u"]["post"]["security"] == [{"OAuth2PasswordBearer": []}]

    def test_only_routed_paths_are_kept_and_own_paths_added(self) -> None:
        users = _doc({"/healthz": {"get": {}}, "/api/u": {"get": {}}}, {})
        merged = merge_documents(
            {"users": users}, keep=lambda service, path: path.startswith("/api/"),
            own_paths={"/healthz": {"get": {"summary": "gateway"}}}, unavailable=["classify"],
        )
        assert list(merged["paths"]) == ["/api/u", "/healthz"]
        assert merged["paths"]["/healthz"] == {"get": {"summary": "gateway"}}
        assert merged["x-unavailable-services"] == ["classify"]

    def test_every_routed_operation_documents_the_gateways_own_answers(self) -> None:
        """Issue 9, finding 13: the gateway's 404/405/429/503/504 (and 401/403 where a token is
        needed, 400/413 where a body is read) were missing from the merged document."""
        users = _doc({"/api/u": {"get": {"responses": {"200": {}}}}, "/api/s": _returns("A")},
                     {"A": {}})
        merged = merge_documents({"users": users}, keep=_keep_all)
        public = merged["paths"]["/api/u"]["get"]["responses"]
        secured = merged["paths"]["/api/s"]["post"]["responses"]
        assert sorted(public) == ["200", "404", "405", "429", "503", "504"]
        assert sorted(secured) == ["200", "401", "403", "404", "405", "429", "503", "504"]
        assert secured["503"]["content"] == {
            "application/problem+json": {"schema": {"$ref": REF + "Problem"}}}
        assert "Retry-After" in secured["429"]["headers"]
        assert "Problem" in merged["components"]["schemas"]

    def test_a_status_the_service_documents_keeps_its_description(self) -> None:
        users = _doc({"/api/u": {"get": {"responses": {"404": {"description": "No such user"}}}}},
                     {})
        merged = merge_documents({"users": users}, keep=_keep_all)
        not_found = merged["paths"]["/api/u"]["get"]["responses"]["404"]
        assert not_found["description"] == "No such user"
        assert "application/problem+json" in not_found["content"]

    def test_inputs_are_not_mutated(self) -> None:
        segment = _doc({"/s": _returns("Item")}, {"Item": {"type": "integer"}})
        merge_documents({"users": _doc({}, {"Item": {"type": "string"}}), "segment": segment},
                        keep=_keep_all)
        assert segment["paths"]["/s"]["post"]["responses"]["200"]["content"][
            "application/json"]["schema"]["$ref"] == REF + "Item"


def test_rewrite_refs_leaves_other_refs_alone() -> None:
    node = {"a": [{"$ref": REF + "X"}, {"$ref": "#/components/responses/X"}]}
    assert rewrite_refs(node, {"X": "Y"}) == {
        "a": [{"$ref": REF + "Y"}, {"$ref": "#/components/responses/X"}]}

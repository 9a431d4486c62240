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
        assert merged["paths"] == {"/api/u": {"get": {}},
                                   "/healthz": {"get": {"summary": "gateway"}}}
        assert merged["x-unavailable-services"] == ["classify"]

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

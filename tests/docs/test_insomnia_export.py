"""The committed Insomnia export carries the Postman collection (scripts/insomnia_export.py).

`make postman` also regenerates the export with Insomnia's importer and compares bytes; these
tests need no Node: they read the committed files, and show that each kind of loss is named.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from insomnia_export import COLLECTION, ENVIRONMENT, EXPORT, differences

Json = dict[str, Any]


@pytest.fixture(scope="module")
def files() -> tuple[Json, Json, Json]:
    return tuple(json.loads(path.read_text(encoding="utf-8"))  # type: ignore[return-value]
                 for path in (COLLECTION, ENVIRONMENT, EXPORT))


def _requests(export: Json) -> list[Json]:
    return [r for r in export["resources"] if r["_type"] == "request"]


class TestCommittedExport:
    def test_carries_every_request_and_variable(self, files: tuple[Json, Json, Json]) -> None:
        assert differences(*files) == []

    def test_has_one_request_per_postman_request(self, files: tuple[Json, Json, Json]) -> None:
        collection, _, export = files
        count, pending = 0, list(collection["item"])
        while pending:
            item = pending.pop()
            count += 0 if "item" in item else 1
            pending += item.get("item", [])
        assert len(_requests(export)) == count > 50


class TestNamedLosses:
    def test_a_missing_request(self, files: tuple[Json, Json, Json]) -> None:
        collection, environment, export = copy.deepcopy(files)
        export["resources"].remove(_requests(export)[-1])
        assert any("Postman requests but" in p for p in differences(collection, environment, export))

    def test_a_changed_method_and_url(self, files: tuple[Json, Json, Json]) -> None:
        collection, environment, export = copy.deepcopy(files)
        request = _requests(export)[0]
        request["method"], request["url"] = "DELETE", "{{baseUrl}}/elsewhere"
        problems = differences(collection, environment, export)
        assert any("method DELETE" in p for p in problems)
        assert any("'{{baseUrl}}/elsewhere'" in p for p in problems)

    def test_a_lost_bearer_token(self, files: tuple[Json, Json, Json]) -> None:
        collection, environment, export = copy.deepcopy(files)
        bearer = next(r for r in _requests(export) if r["authentication"])
        bearer["authentication"] = {}
        assert any(p.endswith("auth differs") for p in differences(collection, environment, export))

    def test_a_changed_body(self, files: tuple[Json, Json, Json]) -> None:
        collection, environment, export = copy.deepcopy(files)
        with_body = next(r for r in _requests(export) if r["body"])
        with_body["body"]["text"] += " "
        assert any("raw body" in p for p in differences(collection, environment, export))

    def test_a_lost_collection_variable(self, files: tuple[Json, Json, Json]) -> None:
        collection, environment, export = copy.deepcopy(files)
        export["resources"][0]["environment"].popitem()
        assert "the collection's variables are not its folder's environment" in differences(
            collection, environment, export)

    def test_a_lost_environment_value(self, files: tuple[Json, Json, Json]) -> None:
        collection, environment, export = copy.deepcopy(files)
        next(r for r in export["resources"] if r["_type"] == "environment")["data"].pop("baseUrl")
        assert any("environment" in p and "not carried" in p
                   for p in differences(collection, environment, export))

    def test_a_request_moved_to_another_folder(self, files: tuple[Json, Json, Json]) -> None:
        collection, environment, export = copy.deepcopy(files)
        requests = _requests(export)
        other_folder = next(r["parentId"] for r in requests if r["parentId"] != requests[0]["parentId"])
        requests[0]["parentId"] = other_folder
        assert any("arrives in folder" in p for p in differences(collection, environment, export))

    def test_folder_auth_that_insomnia_would_drop(self, files: tuple[Json, Json, Json]) -> None:
        collection, environment, export = copy.deepcopy(files)
        folder = collection["item"][0]
        folder["auth"] = {"type": "bearer", "bearer": [{"key": "token", "value": "{{access_token}}"}]}
        assert f"{folder['name']}: auth set here is not imported by Insomnia; set it on each request" \
            in differences(collection, environment, export)

    def test_a_variable_defined_nowhere(self, files: tuple[Json, Json, Json]) -> None:
        collection, environment, export = copy.deepcopy(files)
        collection["variable"] = [v for v in collection["variable"] if v["key"] != "access_token"]
        export["resources"][0]["environment"].pop("access_token")
        assert any("uses access_token, defined in neither" in p
                   for p in differences(collection, environment, export))

"""The README's tables stay true to the code.

- The API table (`| route | who | input | answer |`) lists exactly the routes of the gateway's
  public OpenAPI document, none open to a role the gateway turns away; every field or query
  parameter it names in *input* (a backticked name such as `email`) is one the route takes, and
  every field the route requires is named.
- The migrations table (`| service | migration | what it does |`) lists exactly the Alembic
  scripts in ``services/*/specimen_*/migrations/versions``, in order.

The public document is built in-process exactly as the gateway's catalog builds it (the
services' own documents merged, kept to the paths the route table gives each service), so no
service needs to run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.openapi.utils import get_openapi

from specimen_classify.app import create_app as create_classify
from specimen_gateway.app import OWN_PATHS
from specimen_gateway.app import create_app as create_gateway
from specimen_gateway.domain.openapi import merge_documents
from specimen_gateway.domain.routes import RouteTable
from specimen_segment.app import create_app as create_segment
from specimen_users.app import create_app as create_users

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
API_HEADER = ("route", "who", "input", "answer")
MIGRATIONS_HEADER = ("service", "migration", "what it does")
HTTP_METHODS = ("get", "put", "post", "delete", "patch")
# The "who" cell starts with the least role that may call the route, weakest first. A service
# may ask for more than the gateway does (a technician reaches PATCH /scans/{id} and gets a 403
# from classify), so the cell may name more than the gateway's role, never less.
WHO = ("anyone", "any role", "moderator", "admin")
WHO_OF_ROLE = {None: "anyone", "technician": "any role", "moderator": "moderator", "admin": "admin"}
_FIELD = re.compile(r"`([a-z_][a-z0-9_]*)`")
_PARAMETER = re.compile(r"\{[^}/]*\}")

Json = dict[str, Any]
Route = tuple[str, str]


def readme_table(header: tuple[str, ...]) -> list[list[str]]:
    """The rows of the README table with this header, as cells (pipes inside code kept)."""
    rows: list[list[str]] | None = None
    for line in README.read_text(encoding="utf-8").splitlines():
        cells = _cells(line) if line.startswith("|") else None
        if rows is None:
            if cells is not None and tuple(cells) == header:
                rows = []
        elif cells is None:
            break
        elif not set("".join(cells)) <= set("-: "):
            rows.append(cells)
    if rows is None:
        raise AssertionError(f"README.md has no table headed {' | '.join(header)}")
    return rows


def _cells(line: str) -> list[str]:
    cells, current, in_code = [], "", False
    for char in line.strip()[1:]:
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(current.strip())
            current = ""
        else:
            current += char
    return cells


def _route_of(cell: str) -> Route:
    match = re.fullmatch(r"`([A-Z]+) (/\S*)`", cell)
    assert match, f"a route cell must read `METHOD /path`, not {cell!r}"
    return match[1], _PARAMETER.sub("{}", match[2])


@pytest.fixture(scope="module")
def public_document() -> Json:
    table = RouteTable()
    gateway = create_gateway()
    own = get_openapi(title=gateway.title, version=gateway.version, routes=gateway.routes)
    documents = {"users": create_users().openapi(), "segment": create_segment().openapi(),
                 "classify": create_classify().openapi()}
    return merge_documents(documents, keep=lambda service, path: table.owner(path) == service,
                           own_paths=own["paths"])


@pytest.fixture(scope="module")
def operations(public_document: Json) -> dict[Route, tuple[str, Json]]:
    """``(METHOD, path with {} for parameters)`` → (the documented path, its operation)."""
    found = {}
    for path, item in public_document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                found[method.upper(), _PARAMETER.sub("{}", path)] = path, item[method]
    return found


@pytest.fixture(scope="module")
def api_rows() -> dict[Route, list[str]]:
    rows: dict[Route, list[str]] = {}
    for cells in readme_table(API_HEADER):
        route = _route_of(cells[0])
        assert route not in rows, f"{cells[0]} is listed twice"
        rows[route] = cells
    return rows


def _resolve(schema: Json, document: Json) -> Json:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _inputs(operation: Json, document: Json) -> tuple[set[str], set[str]]:
    """Every body field and query parameter of the operation, and those it requires."""
    names: set[str] = set()
    required: set[str] = set()
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "query":
            names.add(parameter["name"])
            if parameter.get("required"):
                required.add(parameter["name"])
    for content in operation.get("requestBody", {}).get("content", {}).values():
        schema = _resolve(content.get("schema", {}), document)
        names |= set(schema.get("properties", {}))
        required |= set(schema.get("required", []))
    return names, required


class TestApiTable:
    def test_lists_every_public_route_and_no_other(
        self, api_rows: dict[Route, list[str]], operations: dict[Route, tuple[str, Json]],
    ) -> None:
        missing = sorted(" ".join(route) for route in operations.keys() - api_rows.keys())
        unknown = sorted(" ".join(route) for route in api_rows.keys() - operations.keys())
        assert (missing, unknown) == ([], []), (
            f"routes without a README row: {missing}; README rows without a route: {unknown}")

    def test_names_only_inputs_the_route_takes(
        self, api_rows: dict[Route, list[str]], operations: dict[Route, tuple[str, Json]],
        public_document: Json,
    ) -> None:
        wrong = {}
        for route, cells in api_rows.items():
            if route in operations:
                takes, _ = _inputs(operations[route][1], public_document)
                named = set(_FIELD.findall(cells[2]))
                if named - takes:
                    wrong[" ".join(route)] = sorted(named - takes)
        assert wrong == {}, "README names inputs these routes do not take"

    def test_names_every_required_input(
        self, api_rows: dict[Route, list[str]], operations: dict[Route, tuple[str, Json]],
        public_document: Json,
    ) -> None:
        unnamed = {}
        for route, cells in api_rows.items():
            if route in operations:
                _, required = _inputs(operations[route][1], public_document)
                if required - set(_FIELD.findall(cells[2])):
                    unnamed[" ".join(route)] = sorted(required - set(_FIELD.findall(cells[2])))
        assert unnamed == {}, "README leaves out inputs these routes require"

    def test_who_is_never_less_than_the_gateway_lets_in(
        self, api_rows: dict[Route, list[str]], operations: dict[Route, tuple[str, Json]],
    ) -> None:
        table = RouteTable()
        wrong = {}
        for route, cells in api_rows.items():
            if route not in operations:
                continue
            method, path = route[0], operations[route][0]
            if path in OWN_PATHS:
                role = None
            else:
                least = table.resolve(method, _PARAMETER.sub("1", path)).minimum_role
                role = None if least is None else least.value
            who = next((w for w in reversed(WHO) if cells[1].startswith(w)), None)
            if who is None or WHO.index(who) < WHO.index(WHO_OF_ROLE[role]):
                wrong[" ".join(route)] = f"{cells[1]!r}, but the gateway asks for {WHO_OF_ROLE[role]!r}"
        assert wrong == {}


class TestMigrationsTable:
    def test_lists_every_migration_in_order(self) -> None:
        listed = [(cells[0].strip("`"), cells[1].strip("`")) for cells in readme_table(MIGRATIONS_HEADER)]
        on_disk = sorted(
            (path.parents[2].name.removeprefix("specimen_"), path.stem)
            for path in ROOT.glob("services/*/specimen_*/migrations/versions/*.py")
            if not path.name.startswith("_"))
        assert sorted(listed) == on_disk, "README's migrations table differs from the versions folders"
        for service in {service for service, _ in listed}:
            names = [name for owner, name in listed if owner == service]
            assert names == sorted(names), f"{service}'s migrations are not in upgrade order"


class TestReadmeTableParser:
    def test_a_pipe_inside_code_stays_in_its_cell(self) -> None:
        assert _cells("| `a | b` | c |") == ["`a | b`", "c"]

    def test_route_parameters_compare_whatever_their_names(self) -> None:
        assert _route_of("`GET /api/v1/users/{id}`") == _route_of("`GET /api/v1/users/{user_id}`")

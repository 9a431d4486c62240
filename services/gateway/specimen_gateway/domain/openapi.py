"""One OpenAPI document for the whole suite, merged from the services' own documents.

Each service keeps its paths (only those the gateway routes to it, so the services' own
``/healthz`` and ``/readyz`` do not collide). Component schemas are merged by name: an
identical schema appears once; a different schema under a taken name is renamed with the
service's prefix (``segment`` + ``Image`` → ``SegmentImage``) and every ``$ref`` of that
service is rewritten. All operations share one OAuth2 password scheme whose token URL is the
gateway's login route. Every routed operation also documents what the gateway itself answers
before or instead of the service (:data:`GATEWAY_PROBLEMS`), as problem+json.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from specimen_kit.openapi_problems import (
    BODY_PROBLEMS,
    PROBLEM_SCHEMA,
    TOKEN_PROBLEMS,
    add_problems,
    needs_token,
    reads_body,
)

SCHEMA_REF_PREFIX = "#/components/schemas/"
SECURITY_SCHEME = "OAuth2PasswordBearer"
TOKEN_URL = "/api/v1/auth/login"  # noqa: S105 (a route, not a secret)
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})

GATEWAY_PROBLEMS: Mapping[int, str] = {
    404: "No route matches this path (no-route), or the object is outside your scope.",
    405: "The path exists but not for this method; see Allow.",
    429: "Too many requests from this address; see Retry-After.",
    503: "The service behind this route is unreachable or saturated; see Retry-After.",
    504: "The service behind this route did not answer before the gateway's deadline.",
}
"""What the gateway answers for any routed path, whatever the service documents."""

Document = dict[str, Any]
PathFilter = Callable[[str, str], bool]
"""``keep(service, path)``: whether a service's path is reachable through the gateway."""


def rewrite_refs(node: Any, renames: Mapping[str, str]) -> Any:
    """A copy of ``node`` with every ``$ref`` to a renamed schema pointing at its new name."""
    if isinstance(node, dict):
        result = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(SCHEMA_REF_PREFIX):
                name = value[len(SCHEMA_REF_PREFIX):]
                result[key] = SCHEMA_REF_PREFIX + renames.get(name, name)
            else:
                result[key] = rewrite_refs(value, renames)
        return result
    if isinstance(node, list):
        return [rewrite_refs(item, renames) for item in node]
    return node


def _prefixed(service: str, name: str, taken: Mapping[str, Any]) -> str:
    base = service[:1].upper() + service[1:] + name
    candidate, counter = base, 2
    while candidate in taken:
        candidate, counter = f"{base}{counter}", counter + 1
    return candidate


def _plan_renames(service: str, schemas: Mapping[str, Any],
                  merged: Mapping[str, Any]) -> dict[str, str]:
    """Names to change so no schema of ``service`` silently replaces another's.

    Renaming one schema changes the ``$ref`` inside schemas that point at it, which can make
    them differ from a same-name schema too, so the plan grows until it is stable.
    """
    renames: dict[str, str] = {}
    while True:
        grown = False
        for name, schema in schemas.items():
            if name in renames or name not in merged:
                continue
            if rewrite_refs(schema, renames) != merged[name]:
                renames[name] = _prefixed(service, name, {**merged, **schemas,
                                                          **dict.fromkeys(renames.values())})
                grown = True
        if not grown:
            return renames


def _single_security(operation: dict[str, Any]) -> None:
    requirements = operation.get("security")
    if isinstance(requirements, list):
        merged: list[dict[str, Any]] = []
        for requirement in requirements:
            if isinstance(requirement, dict):
                scopes = sorted({s for listed in requirement.values() for s in listed or ()})
                merged.append({SECURITY_SCHEME: scopes} if requirement else {})
        operation["security"] = merged


def _add_gateway_problems(operation: dict[str, Any]) -> None:
    add_problems(operation, GATEWAY_PROBLEMS)
    if reads_body(operation):
        add_problems(operation, BODY_PROBLEMS)
    if needs_token(operation):
        add_problems(operation, TOKEN_PROBLEMS)


def merge_documents(
    documents: Mapping[str, Document],
    *,
    keep: PathFilter,
    own_paths: Mapping[str, Any] | None = None,
    unavailable: Sequence[str] = (),
    title: str = "Specimen API",
    version: str = "0.1.0",
) -> Document:
    """Merge the services' documents (in the mapping's order) into one.

    ``own_paths`` are the gateway's own paths, added as they are; ``unavailable`` names the
    services whose document could not be fetched (listed in ``x-unavailable-services``).
    """
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    other_components: dict[str, dict[str, Any]] = {}
    tags: dict[str, Any] = {}
    for service, original in documents.items():
        components = original.get("components") or {}
        service_schemas = components.get("schemas") or {}
        renames = _plan_renames(service, service_schemas, schemas)
        document = rewrite_refs(copy.deepcopy(original), renames)
        for name, schema in (document.get("components", {}).get("schemas") or {}).items():
            schemas.setdefault(renames.get(name, name), schema)
        for section, members in (document.get("components") or {}).items():
            if section in ("schemas", "securitySchemes") or not isinstance(members, dict):
                continue
            for name, member in members.items():
                other_components.setdefault(section, {}).setdefault(name, member)
        for path, item in (document.get("paths") or {}).items():
            if path in paths or not keep(service, path):
                continue
            for method, operation in item.items():
                if method in HTTP_METHODS and isinstance(operation, dict):
                    _single_security(operation)
                    _add_gateway_problems(operation)
            paths[path] = item
        for tag in document.get("tags") or []:
            if isinstance(tag, dict) and "name" in tag:
                tags.setdefault(tag["name"], tag)
    if paths:
        schemas.setdefault("Problem", PROBLEM_SCHEMA)
    for path, item in (own_paths or {}).items():
        paths.setdefault(path, copy.deepcopy(item))

    merged: Document = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "Every Specimen service, reached through the gateway."},
        "paths": paths,
        "components": {
            **other_components,
            "schemas": schemas,
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "oauth2",
                    "flows": {"password": {"tokenUrl": TOKEN_URL, "scopes": {}}},
                },
            },
        },
    }
    if tags:
        merged["tags"] = list(tags.values())
    merged["x-unavailable-services"] = list(unavailable)
    return merged

"""The Insomnia export beside the Postman collection: made from it, and kept equal to it.

``postman/specimen.insomnia.json`` is what Insomnia's own importer (``insomnia-importers``,
pinned in ``postman/package-lock.json``; ``postman/to_insomnia.cjs`` drives it) makes of the
collection and its environment. ``make insomnia`` (``--write``) rewrites it after the collection
changes. ``make postman`` regenerates it and fails if the committed file differs, so the file is
always the conversion of the committed collection; :func:`differences` (also run by pytest,
without Node) checks that every request came across with its folder, method, URL, headers,
body and auth, and every variable with its value.

Insomnia does not run Postman's scripts: the tokens and ids that the collection's test scripts
store on the way are set by hand in Insomnia (README, "Postman and Insomnia").
"""

from __future__ import annotations

import argparse
import filecmp
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

POSTMAN_DIR = Path(__file__).resolve().parents[1] / "postman"
COLLECTION = POSTMAN_DIR / "specimen.postman_collection.json"
ENVIRONMENT = POSTMAN_DIR / "specimen.postman_environment.json"
EXPORT = POSTMAN_DIR / "specimen.insomnia.json"
CONVERTER = POSTMAN_DIR / "to_insomnia.cjs"
# What `npm ci` installs; a node_modules from before a package was added is installed again.
NODE_PACKAGES = (POSTMAN_DIR / "node_modules" / "newman" / "package.json",
                 POSTMAN_DIR / "node_modules" / "insomnia-importers" / "package.json")

Json = dict[str, Any]
_VARIABLE = re.compile(r"{{([^{}]+)}}")


def ensure_node_packages() -> bool:
    """Install newman and the importer from the lock file if needed; False without npm."""
    if all(path.exists() for path in NODE_PACKAGES):
        return True
    npm = shutil.which("npm")
    if npm is None:
        return False
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=POSTMAN_DIR, check=True)
    return True


def convert(output: Path) -> None:
    """Write Insomnia's conversion of the collection and environment to ``output``."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed")
    subprocess.run([node, str(CONVERTER), str(COLLECTION), str(ENVIRONMENT), str(output)],
                   cwd=POSTMAN_DIR, check=True)


def check_committed_export() -> list[str]:
    """What is wrong with the committed export: stale, or not carrying the collection."""
    with tempfile.TemporaryDirectory(prefix="specimen-insomnia-") as scratch:
        fresh = Path(scratch) / EXPORT.name
        convert(fresh)
        if not EXPORT.exists() or not filecmp.cmp(fresh, EXPORT, shallow=False):
            return [f"{EXPORT.name} is not the conversion of {COLLECTION.name}: run `make insomnia`"]
    return differences(_load(COLLECTION), _load(ENVIRONMENT), _load(EXPORT))


def differences(collection: Json, environment: Json, export: Json) -> list[str]:
    """Every way ``export`` fails to carry ``collection`` and ``environment`` into Insomnia."""
    problems: list[str] = []
    if export.get("_type") != "export" or export.get("__export_format") != 4:
        problems.append("not an Insomnia export of format 4")
    resources = export.get("resources", [])
    by_id = {resource.get("_id"): resource for resource in resources}
    groups = [r for r in resources if r.get("_type") == "request_group"]
    requests = [r for r in resources if r.get("_type") == "request"]

    variables = {v["key"]: v.get("value", "") for v in collection.get("variable", [])}
    root = groups[0] if groups else {}
    if root.get("name") != collection["info"]["name"]:
        problems.append(f"the collection's folder is not named {collection['info']['name']!r}")
    if root.get("environment", {}) != variables:
        problems.append("the collection's variables are not its folder's environment")
    environments = [r for r in resources if r.get("_type") == "environment"]
    expected_environment = {v["key"]: v.get("value", "")
                            for v in environment.get("values", []) if v.get("enabled", True)}
    if [e.get("data") for e in environments] != [expected_environment]:
        problems.append(f"the environment {environment.get('name')!r} is not carried as it is")

    problems += [f"{name}: auth set here is not imported by Insomnia; set it on each request"
                 for name in _inherited_auth(collection)]
    known = set(variables) | set(expected_environment)
    expected = list(_postman_requests(collection.get("item", []), ()))
    if len(requests) != len(expected):
        problems.append(f"{len(expected)} Postman requests but {len(requests)} Insomnia requests")
    for (folders, item), request in zip(expected, requests, strict=False):
        label = " / ".join((*folders, item["name"]))
        problems += [f"{label}: {problem}" for problem in
                     _request_differences(item, folders, request, by_id, known)]
    return problems


def _postman_requests(items: list[Json], folders: tuple[str, ...],
                      ) -> Iterator[tuple[tuple[str, ...], Json]]:
    for item in items:
        if "item" in item:
            yield from _postman_requests(item["item"], (*folders, item["name"]))
        else:
            yield folders, item


def _inherited_auth(collection: Json) -> list[str]:
    """Folders (and the collection) whose auth requests inherit: Insomnia's importer reads
    auth per request only, so such requests would arrive without a token."""
    found = [collection["info"]["name"]] if collection.get("auth") else []
    pending = list(collection.get("item", []))
    while pending:
        item = pending.pop(0)
        if "item" in item:
            found += [item["name"]] if item.get("auth") else []
            pending += item["item"]
    return found


def _request_differences(item: Json, folders: tuple[str, ...], request: Json,
                         by_id: dict[Any, Json], known: set[str]) -> list[str]:
    source = item["request"]
    problems = []
    if request.get("name") != item["name"]:
        problems.append(f"arrives as {request.get('name')!r}")
    if _folders_of(request, by_id)[1:] != list(folders):
        problems.append(f"arrives in folder {' / '.join(_folders_of(request, by_id)[1:])!r}")
    if request.get("method") != source.get("method", "GET").upper():
        problems.append(f"method {request.get('method')} instead of {source.get('method')}")
    url = source.get("url", "")
    raw_url = url if isinstance(url, str) else url.get("raw", "")
    if request.get("url") != raw_url:
        problems.append(f"URL {request.get('url')!r} instead of {raw_url!r}")
    headers = [h for h in source.get("header", []) if h["key"] != "Authorization"]
    if any(h.get("disabled") for h in headers):
        problems.append("a disabled header would be sent by Insomnia: remove it")
    if [(h["name"], h["value"]) for h in request.get("headers", [])] != [
            (h["key"], h["value"]) for h in headers]:
        problems.append("headers differ")
    if request.get("authentication") != _expected_auth(source.get("auth")):
        problems.append("auth differs")
    body_problem = _body_difference(source.get("body"), request.get("body"), headers)
    if body_problem:
        problems.append(body_problem)
    unknown = sorted(set(_VARIABLE.findall(json.dumps(source))) - known)
    if unknown:
        problems.append(f"uses {', '.join(unknown)}, defined in neither the collection nor the environment")
    return problems


def _folders_of(request: Json, by_id: dict[Any, Json]) -> list[str]:
    names: list[str] = []
    parent = by_id.get(request.get("parentId"))
    while parent is not None:
        names.insert(0, parent.get("name", ""))
        parent = by_id.get(parent.get("parentId"))
    return names


def _expected_auth(auth: Json | None) -> Json:
    if not auth or auth.get("type") == "noauth":
        return {}
    if auth.get("type") == "bearer":
        token = next((e.get("value", "") for e in auth.get("bearer", []) if e.get("key") == "token"), "")
        return {"type": "bearer", "disabled": False, "token": token, "prefix": ""}
    return {"unchecked auth type": auth.get("type")}


def _body_difference(body: Json | None, imported: Json | None, headers: list[Json]) -> str | None:
    imported = imported or {}
    if not body or (body.get("mode") == "raw" and body.get("raw", "") == ""):
        return None if imported == {} else "a body Postman does not send"
    mode = body.get("mode")
    if mode == "raw":
        content_type = next((h["value"] for h in headers if h["key"].lower() == "content-type"), "")
        if imported.get("text") != body["raw"] or imported.get("mimeType") != content_type:
            return "raw body or its content type differs"
        return None
    if mode in ("formdata", "urlencoded"):
        fields = [(f["key"], f.get("type", "text")) for f in body.get(mode, [])]
        params = [(p.get("name"), p.get("type", "text")) for p in imported.get("params", [])]
        return None if params == fields else f"{mode} fields differ"
    return f"body mode {mode!r} is not checked: add it to scripts/insomnia_export.py"


def _load(path: Path) -> Json:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true",
                        help=f"rewrite {EXPORT.relative_to(POSTMAN_DIR.parent)} from the collection")
    args = parser.parse_args(argv)
    if not ensure_node_packages():
        sys.stderr.write("npm is not installed: install Node.js to convert the collection\n")
        return 1
    if args.write:
        convert(EXPORT)
    problems = check_committed_export()
    for problem in problems:
        sys.stderr.write(f"insomnia export: {problem}\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

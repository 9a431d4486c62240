"""The HTTP half of ``scripts/prove_containers.sh``: wait for the suite, keep data, find it again.

    prove_containers.py wait  BASE_URL [--timeout S]
    prove_containers.py seed  BASE_URL STATE_FILE --env-file ENV --mri-slice PNG --image PNG
    prove_containers.py check BASE_URL STATE_FILE --env-file ENV

``seed`` creates, through the gateway, a technician (a user of the users database), an image in
their segment library with a kept segmentation (rows in the segment database, blobs in its
volume) and an MRI scan (a row in the classify database, its image in the classify volume),
and writes what it made to STATE_FILE. ``check`` logs in again as the admin and as the
technician and reads every one of them back, comparing the stored files byte for byte (SHA-256).
Standard library only, so that the proof needs no virtual environment.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TECHNICIAN_PASSWORD = "a proof technician's password"  # noqa: S105 - a throwaway user


class ProofFailed(RuntimeError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise ProofFailed(message)


class Api:
    def __init__(self, base_url: str, token: str | None = None) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ProofFailed(f"{base_url!r} is not an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.token = token

    def request(self, method: str, path: str, body: Any = None, status: int = 200) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        # The scheme is checked in __init__.
        request = urllib.request.Request(self.base_url + path, data=data, method=method)  # noqa: S310
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                answered, payload = response.status, bytes(response.read())
        except urllib.error.HTTPError as error:
            answered, payload = error.code, bytes(error.read())
        if answered != status:
            raise ProofFailed(f"{method} {path}: expected {status}, got {answered}: "
                              f"{payload[:500].decode(errors='replace')}")
        return payload

    def json(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        return json.loads(self.request(method, path, body, status))

    def login(self, email: str, password: str) -> Api:
        tokens = self.json("POST", "/api/v1/auth/login", {"email": email, "password": password})
        return Api(self.base_url, tokens["access_token"])


def read_env_file(path: Path) -> dict[str, str]:
    """The one-line ``KEY=value`` entries of a compose .env file (the PEM key is skipped)."""
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.isidentifier() and not value.startswith('"'):
            values[key] = value.strip()
    return values


def admin(base_url: str, env: dict[str, str]) -> Api:
    return Api(base_url).login(env.get("SPECIMEN_ADMIN_EMAIL", "admin@specimen.local"),
                               env["SPECIMEN_ADMIN_PASSWORD"])


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wait(base_url: str, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base_url.rstrip("/") + "/readyz", timeout=5) as response:  # noqa: S310
                if response.status == 200:
                    print(f"ready: {response.read().decode()}")
                    return 0
        except urllib.error.HTTPError as error:
            last = f"{error.code} {error.read()[:300].decode(errors='replace')}"
        except (urllib.error.URLError, OSError) as error:
            last = str(error)
        time.sleep(2)
    print(f"not ready within {timeout:.0f} s: {last}", file=sys.stderr)
    return 1


def seed(base_url: str, state_file: Path, env: dict[str, str], mri_slice: Path, image: Path) -> int:
    boss = admin(base_url, env)
    email = f"proof-technician-{int(time.time())}@proof.example"
    user = boss.json("POST", "/api/v1/users", {
        # No hospital: the admin's own, which exists (users name hospitals of the managed list).
        "email": email, "full_name": "Proof Technician",
        "role": "technician", "password": TECHNICIAN_PASSWORD}, status=201)
    technician = Api(base_url).login(email, TECHNICIAN_PASSWORD)

    image_bytes = image.read_bytes()
    stored = technician.json("POST", "/api/v1/images", {
        "name": "proof image", "image": base64.b64encode(image_bytes).decode()}, status=201)
    segmentation = technician.json(
        "POST", f"/api/v1/images/{stored['id']}/segmentations",
        {"operation": "threshold", "params": {}}, status=201)
    result = technician.request(
        "GET", f"/api/v1/images/{stored['id']}/segmentations/{segmentation['id']}/content")

    slice_bytes = mri_slice.read_bytes()
    scan = technician.json("POST", "/api/v1/scans", {
        "image": base64.b64encode(slice_bytes).decode(), "patient_gender": "female",
        "true_label": "tumor", "notes": "filed before the restart"}, status=201)

    state = {
        "user": {"id": user["id"], "email": email},
        "image": {"id": stored["id"], "sha256": sha256(image_bytes)},
        "segmentation": {"id": segmentation["id"], "sha256": sha256(result)},
        "scan": {"id": scan["id"], "sha256": sha256(slice_bytes),
                 "label": scan["classification"]["label"]},
    }
    state_file.write_text(json.dumps(state, indent=2))
    print(f"created user {user['id']} ({email}), image {stored['id']} with segmentation "
          f"{segmentation['id']}, scan {scan['id']} (classified {state['scan']['label']})")
    return 0


def check(base_url: str, state_file: Path, env: dict[str, str]) -> int:
    state = json.loads(state_file.read_text())
    boss = admin(base_url, env)
    user = boss.json("GET", f"/api/v1/users/{state['user']['id']}")
    expect(user["email"] == state["user"]["email"], f"user {user['id']} changed: {user}")
    technician = Api(base_url).login(state["user"]["email"], TECHNICIAN_PASSWORD)

    image_id = state["image"]["id"]
    technician.json("GET", f"/api/v1/images/{image_id}")
    content = technician.request("GET", f"/api/v1/images/{image_id}/content")
    expect(sha256(content) == state["image"]["sha256"], "the library image changed")
    segmentation_id = state["segmentation"]["id"]
    result = technician.request(
        "GET", f"/api/v1/images/{image_id}/segmentations/{segmentation_id}/content")
    expect(sha256(result) == state["segmentation"]["sha256"], "the segmentation result changed")

    scan_id = state["scan"]["id"]
    scan = technician.json("GET", f"/api/v1/scans/{scan_id}")
    expect(scan["classification"]["label"] == state["scan"]["label"], f"scan changed: {scan}")
    scan_image = technician.request("GET", f"/api/v1/scans/{scan_id}/image")
    expect(sha256(scan_image) == state["scan"]["sha256"], "the scan's image changed")
    print(f"found user {user['id']} (logged in with their password), image {image_id} and "
          f"segmentation {segmentation_id} (same bytes), scan {scan_id} (same bytes, "
          f"label {scan['classification']['label']})")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    wait_parser = commands.add_parser("wait")
    wait_parser.add_argument("base_url")
    wait_parser.add_argument("--timeout", type=float, default=600.0)
    for name in ("seed", "check"):
        command = commands.add_parser(name)
        command.add_argument("base_url")
        command.add_argument("state_file", type=Path)
        command.add_argument("--env-file", type=Path, required=True)
        if name == "seed":
            command.add_argument("--mri-slice", type=Path, required=True)
            command.add_argument("--image", type=Path, required=True)
    arguments = parser.parse_args(argv)
    if arguments.command == "wait":
        return wait(arguments.base_url, arguments.timeout)
    env = read_env_file(arguments.env_file)
    try:
        if arguments.command == "seed":
            return seed(arguments.base_url, arguments.state_file, env,
                        arguments.mri_slice, arguments.image)
        return check(arguments.base_url, arguments.state_file, env)
    except ProofFailed as error:
        print(f"{arguments.command} failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

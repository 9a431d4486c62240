"""The batch side of Specimen, end to end through the gateway: issue 12's "done when" as a script.

    prove_plankton_journey.py BASE_URL --frames DIR --mri DIR [--email E] [--password P]
                              [--checker-command CMD] [--timeout S] [--json OUT]

As the admin (``--email``, default ``admin@specimen.local``; ``--password`` or
``SPECIMEN_ADMIN_PASSWORD``), through the gateway at BASE_URL:

 1. creates a plankton project, uploads the frames of ``--frames`` (PNG/JPEG/TIFF files) as one
    ZIP with a metadata CSV (sample, acquisition, position, date, time, depth per frame), and
    checks that every frame was imported with its metadata;
 2. starts a run, polls its job to ``succeeded`` (progress never going back) with every frame
    done;
 3. bulk-validates every object with its predicted category (one request per category);
 4. exports the project to EcoTaxa (a job), downloads the ZIP and checks its TSV by EcoTaxa's
    import rules with ``specimen_classify.domain.plankton.ecotaxa_import`` (in this process when
    it imports, else through ``--checker-command``, e.g. ``podman run --rm -i IMAGE``, which gets
    the ZIP on its standard input and runs ``python -c`` in that image);
 5. trains a new plankton forest version from the validated objects (a job, on the training
    queue's worker) and finds the version registered and not activated;
 6. imports the MRI slices of ``--mri`` (PNG files, ``yes/`` tumor, ``no/`` healthy) as scans
    from one ZIP with a metadata CSV (a job) and finds the scans.

It prints each step with its figures and time, and with ``--json`` writes them to a file. It
needs only the standard library, so it runs against ``make run`` (make the inputs with
``python -m specimen_classify generate plankton DIR --frames 6 --seed 3`` and ``generate mri DIR
--count 2 --seed 7``) as well as against the compose stack (``scripts/prove_containers.sh``).
Exit status 0 when every step passed.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
OPEN = ("queued", "running")

# Run where specimen_classify imports: reads the export ZIP on stdin, prints the report as JSON.
CHECK_CODE = """
import io, json, sys, zipfile
from specimen_classify.domain.plankton.ecotaxa_import import check_ecotaxa_tsv
with zipfile.ZipFile(io.BytesIO(sys.stdin.buffer.read())) as archive:
    names = archive.namelist()
    tsvs = [name for name in names if name.endswith('.tsv')]
    report = check_ecotaxa_tsv(archive.read(tsvs[0]), image_names=set(names)) if len(tsvs) == 1 else None
print(json.dumps({'members': len(names), 'tsv': tsvs, 'ok': bool(report and report.ok),
                  'rows': report.rows if report else 0, 'columns': len(report.columns) if report else 0,
                  'encoding': report.encoding if report else None,
                  'errors': report.errors[:10] if report else ['not exactly one TSV in the ZIP']}))
"""


class JourneyFailed(RuntimeError):
    pass


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise JourneyFailed(message)


class Gateway:
    """A small HTTP client of the gateway (urllib): JSON and multipart bodies, a bearer token."""

    def __init__(self, base_url: str) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise JourneyFailed(f"{base_url!r} is not an http(s) URL")
        self.base_url = base_url.rstrip("/")
        self.token: str | None = None
        self.requests = 0

    def call(self, method: str, path: str, *, body: Any = None,
             files: dict[str, tuple[str, bytes, str]] | None = None,
             fields: dict[str, str] | None = None,
             status: tuple[int, ...] = (200,)) -> tuple[int, dict[str, str], bytes]:
        headers: dict[str, str] = {}
        data: bytes | None = None
        if files is not None or fields is not None:
            boundary = uuid.uuid4().hex
            data = _multipart(boundary, fields or {}, files or {})
            headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        elif body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = path if path.startswith("http") else self.base_url + path
        # The scheme is checked in __init__ (and a path is joined to that base).
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        self.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=300) as response:  # noqa: S310
                answered, answer_headers, payload = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            answered, answer_headers, payload = error.code, dict(error.headers), error.read()
        if answered not in status:
            raise JourneyFailed(f"{method} {path}: expected {status}, got {answered}: "
                                f"{payload[:600].decode(errors='replace')}")
        return answered, {k.lower(): v for k, v in answer_headers.items()}, bytes(payload)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return json.loads(self.call(method, path, **kwargs)[2])

    def wait_job(self, location: str, timeout: float, what: str) -> tuple[dict[str, Any], list[int]]:
        """Poll a job until it ends; the job and the progress (done + failed) seen on the way."""
        deadline = time.monotonic() + timeout
        seen: list[int] = []
        while True:
            job = self.json("GET", location)
            progress = job.get("progress") or {}
            seen.append(int(progress.get("done", 0)) + int(progress.get("failed", 0)))
            if job["status"] not in OPEN:
                return job, seen
            if time.monotonic() > deadline:
                raise JourneyFailed(f"{what}: still {job['status']} after {timeout:.0f} s: {job}")
            time.sleep(0.5)


def _multipart(boundary: str, fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]) -> bytes:
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode())
        out.write(value.encode() + b"\r\n")
    for name, (file_name, content, media_type) in files.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                  f'filename="{file_name}"\r\nContent-Type: {media_type}\r\n\r\n'.encode())
        out.write(content + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue()


def _images(folder: Path) -> list[Path]:
    found = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    expect(bool(found), f"no images under {folder}")
    return found


def frames_upload(frames: list[Path]) -> tuple[bytes, bytes]:
    """The frames as one ZIP (under a folder, as a cruise's export would be) and their metadata."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in frames:
            zipped.write(path, f"cruise/{path.name}")
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["file_name", "sample_id", "acq_id", "lat", "lon", "date", "time", "depth_min",
                     "depth_max"])
    for i, path in enumerate(frames):
        writer.writerow([path.name, f"st{i // 3 + 1}", f"acq{i // 3 + 1}", "43.68", "7.31", "2026-05-04",
                         f"10:{i:02d}:00", "0", "50"])
    return archive.getvalue(), table.getvalue().encode()


def mri_upload(slices: list[Path]) -> tuple[bytes, bytes]:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in slices:
            zipped.write(path, f"{path.parent.name}/{path.name}")
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["file_name", "patient_ref", "patient_gender", "true_label", "notes"])
    for i, path in enumerate(slices):
        label = {"yes": "tumor", "no": "healthy"}.get(path.parent.name, "")
        writer.writerow([f"{path.parent.name}/{path.name}", f"journey-{i:03d}", "female" if i % 2 else "male",
                         label, "imported by prove_plankton_journey.py"])
    return archive.getvalue(), table.getvalue().encode()


def check_export(data: bytes, checker_command: str | None) -> dict[str, Any]:
    """EcoTaxa's import rules on the export ZIP, here or in the checker command's image."""
    root = Path(__file__).resolve().parent.parent
    for package in (root / "services" / "classify", root / "libs" / "kit"):
        if str(package) not in sys.path:
            sys.path.append(str(package))
    try:
        import specimen_classify.domain.plankton.ecotaxa_import  # noqa: F401
    except ImportError as error:
        if not checker_command:
            raise JourneyFailed(f"the EcoTaxa checker does not import here ({error}); "
                                "give --checker-command (e.g. 'podman run --rm -i IMAGE')") from error
        done = subprocess.run([*shlex.split(checker_command), "python", "-c", CHECK_CODE], input=data,
                              capture_output=True, timeout=300, check=False)
        expect(done.returncode == 0,
               f"the checker command failed: {done.stderr[-2000:].decode(errors='replace')}")
        return dict(json.loads(done.stdout.decode().strip().splitlines()[-1]))
    captured = io.StringIO()
    stdin, stdout = sys.stdin, sys.stdout
    sys.stdin = io.TextIOWrapper(io.BytesIO(data))
    sys.stdout = captured
    try:
        exec(CHECK_CODE, {})  # noqa: S102 - our own code, the same the checker command runs
    finally:
        sys.stdin, sys.stdout = stdin, stdout
    return dict(json.loads(captured.getvalue().strip().splitlines()[-1]))


class Journey:
    def __init__(self, api: Gateway, timeout: float) -> None:
        self.api = api
        self.timeout = timeout
        self.started = time.monotonic()
        self.figures: dict[str, Any] = {}

    def step(self, name: str, started: float, **figures: Any) -> None:
        seconds = round(time.monotonic() - started, 1)
        self.figures[name] = {"seconds": seconds, **figures}
        shown = ", ".join(f"{k} {v}" for k, v in figures.items())
        print(f"  ok  [{time.monotonic() - self.started:6.1f} s] {name} ({seconds} s): {shown}", flush=True)

    def run(self, frames: list[Path], slices: list[Path], checker: str | None) -> dict[str, Any]:
        api = self.api
        t = time.monotonic()
        project = api.json("POST", "/api/v1/projects", status=(201,), body={
            "name": f"Journey cruise {uuid.uuid4().hex[:6]}", "description": "prove_plankton_journey.py",
            "instrument": "ZooScan", "pixel_size_um": 10.6})
        pid = project["id"]
        archive, metadata = frames_upload(frames)
        uploaded = api.json("POST", f"/api/v1/projects/{pid}/frames", status=(200, 201), files={
            "archive": ("cruise.zip", archive, "application/zip"),
            "metadata": ("metadata.csv", metadata, "text/csv")})
        imported = uploaded["imported"]
        expect(len(imported) == len(frames) and not uploaded["rejected"],
               f"upload: {len(imported)} of {len(frames)} imported, rejected {uploaded['rejected']}")
        with_sample = [f for f in imported if f["sample_id"] and f["taken_at"] and f["depth_max"] == 50]
        expect(len(with_sample) == len(frames), f"upload: metadata missing on some frames: {imported[:2]}")
        self.step("project and ZIP upload", t, project=pid, frames=len(imported), zip_bytes=len(archive))

        t = time.monotonic()
        _, headers, body = api.call("POST", f"/api/v1/projects/{pid}/runs", body={}, status=(202,))
        location = headers["location"]
        job, seen = api.wait_job(location, self.timeout, "the run")
        expect(job["status"] == "succeeded", f"the run ended {job['status']}: {job}")
        progress = job["progress"]
        expect(progress["done"] == len(frames) and progress["failed"] == 0, f"run progress {progress}")
        expect(seen == sorted(seen), f"the run's progress went back: {seen}")
        expect(progress["objects"] > 0, "the run found no object")
        self.step("run (job polled to succeeded)", t, job=json.loads(body)["id"],
                  frames_done=progress["done"], objects=progress["objects"], polls=len(seen),
                  frames_per_second=round(len(frames) / max(time.monotonic() - t, 1e-6), 2))

        t = time.monotonic()
        objects: list[dict[str, Any]] = []
        while True:
            page = api.json("GET", f"/api/v1/projects/{pid}/objects?limit=500&offset={len(objects)}")
            objects += page["items"]
            if not page["items"] or len(objects) >= page["total"]:
                break
        expect(len(objects) == progress["objects"], f"{len(objects)} objects listed, the run made "
               f"{progress['objects']}")
        by_category: dict[str, list[int]] = {}
        for item in objects:
            by_category.setdefault(item["category"], []).append(item["id"])
        for category, ids in sorted(by_category.items()):
            api.json("POST", f"/api/v1/projects/{pid}/objects/annotations",
                     body={"ids": ids, "category": category, "status": "validated"})
        counts = api.json("GET", f"/api/v1/projects/{pid}/objects/counts")
        validated = _count_status(counts, "validated")
        expect(validated == len(objects), f"{validated} of {len(objects)} objects validated: {counts}")
        self.step("bulk validation", t, objects=len(objects), categories=len(by_category),
                  requests=len(by_category))

        t = time.monotonic()
        export = api.json("POST", f"/api/v1/projects/{pid}/exports", body={"format": "ecotaxa"},
                          status=(202,))
        deadline = time.monotonic() + self.timeout
        while export["status"] in OPEN:
            expect(time.monotonic() < deadline, f"the export is still {export['status']}")
            time.sleep(0.5)
            export = api.json("GET", f"/api/v1/exports/{export['id']}")
        expect(export["status"] == "succeeded", f"the export ended {export['status']}: {export}")
        zipped = api.call("GET", export["content_url"])[2]
        report = check_export(zipped, checker)
        expect(report["ok"], f"EcoTaxa's rules refuse the export: {report}")
        expect(report["rows"] == len(objects), f"the TSV has {report['rows']} rows, {len(objects)} objects")
        self.step("EcoTaxa export (job) and import check", t, export=export["id"], zip_bytes=len(zipped),
                  members=report["members"], tsv_rows=report["rows"], tsv_columns=report["columns"],
                  ecotaxa_rules="accepted")

        t = time.monotonic()
        before = api.json("GET", "/api/v1/models/plankton")
        _, headers, body = api.call("POST", "/api/v1/models/plankton/trainings",
                                    body={"project_ids": [pid], "n_estimators": 50}, status=(202,))
        job, _ = api.wait_job(headers["location"], self.timeout, "the training")
        expect(job["status"] == "succeeded", f"the training ended {job['status']}: {job}")
        version = job["result"]["version"]
        after = api.json("GET", "/api/v1/models/plankton")
        versions = [v["version"] for v in after["versions"]]
        expect(version in versions and version not in [v["version"] for v in before["versions"]],
               f"version {version} is not a new version: {versions}")
        expect(after["active"]["version"] == before["active"]["version"],
               "the training activated its version")
        card = api.json("GET", job["result"]["version_url"])
        provenance = card["card"]["training_data"]
        expect(provenance["kind"] == "projects", f"the card's training data: {provenance}")
        self.step("training (job) to a new model version", t, job=job["id"], version=version,
                  trained_on=job["progress"]["objects"], categories=len(provenance["per_category"]),
                  active_version=after["active"]["version"])

        t = time.monotonic()
        archive, metadata = mri_upload(slices)
        _, headers, body = api.call("POST", "/api/v1/scans/imports", status=(202,), files={
            "archive": ("slices.zip", archive, "application/zip"),
            "metadata": ("metadata.csv", metadata, "text/csv")})
        job, _ = api.wait_job(headers["location"], self.timeout, "the scan import")
        expect(job["status"] == "succeeded" and job["progress"]["failed"] == 0,
               f"the scan import: {job['status']}, {job['progress']}, {job.get('errors')}")
        expect(job["progress"]["objects"] == len(slices), f"scans filed: {job['progress']}")
        scans = api.json("GET", "/api/v1/scans?limit=500")
        refs = {s["patient_ref"] for s in scans["items"]}
        expect(len([r for r in refs if r.startswith("journey-")]) >= len(slices),
               f"the imported scans are not listed: {sorted(refs)[:10]}")
        self.step("MRI scan import (job)", t, job=job["id"], slices=len(slices),
                  scans_filed=job["progress"]["objects"])
        self.figures["total_seconds"] = round(time.monotonic() - self.started, 1)
        self.figures["requests"] = api.requests
        return self.figures


def _count_status(counts: dict[str, Any], status: str) -> int:
    """The objects of a status in ``GET …/objects/counts``."""
    return int(counts["by_status"].get(status, 0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url")
    parser.add_argument("--frames", type=Path, required=True, help="a folder of plankton frames")
    parser.add_argument("--mri", type=Path, required=True, help="a folder of MRI slices (yes/, no/)")
    parser.add_argument("--email", default=os.environ.get("SPECIMEN_ADMIN_EMAIL", "admin@specimen.local"))
    parser.add_argument("--password", default=os.environ.get("SPECIMEN_ADMIN_PASSWORD"))
    parser.add_argument("--checker-command", default=None,
                        help="runs python with specimen_classify when it does not import here")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds each job may take")
    parser.add_argument("--json", type=Path, default=None, help="write the figures to this file")
    arguments = parser.parse_args(argv)
    if not arguments.password:
        parser.error("--password or SPECIMEN_ADMIN_PASSWORD is required")
    api = Gateway(arguments.base_url)
    tokens = api.json("POST", "/api/v1/auth/login",
                      body={"email": arguments.email, "password": arguments.password})
    api.token = tokens["access_token"]
    print(f"plankton journey against {api.base_url}", flush=True)
    try:
        figures = Journey(api, arguments.timeout).run(_images(arguments.frames), _images(arguments.mri),
                                                      arguments.checker_command)
    except JourneyFailed as failure:
        print(f"  FAILED: {failure}", file=sys.stderr)
        return 1
    print(f"plankton journey passed: {figures['requests']} requests in {figures['total_seconds']} s",
          flush=True)
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

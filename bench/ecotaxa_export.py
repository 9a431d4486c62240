"""Exporting 100,000 objects: the EcoTaxa ZIP and the plain CSV, time and peak memory.

A SQLite database (classify's tables, ``create_all``) is filled with one project of 500 frames
x 200 objects, each with feature set 2's 83 measurements (random values, fixed seed), a status
(70 % predicted, 20 % validated by "Zoé", 10 % dubious) and a crop blob (200 distinct 64x64 PNGs
in a ``FilesystemBlobStore``, shared round-robin: 100,000 files would measure the disk, not the
writer). Then, each in a fresh child process (so ``ru_maxrss`` is the export's own peak):

* ``zip``: ``export_rows`` (one query, ``yield_per`` 1000) → ``write_ecotaxa_zip`` into a
  temporary file → ``FilesystemBlobStore.put_file``; then the archive is read back and its TSV
  checked by EcoTaxa's import rules (not timed);
* ``csv``: ``export_rows`` → ``plain_csv`` into a file.

Peak memory is the child's max RSS, minus the same child's RSS after its imports and the
database's opening (the export's own growth), both printed.

    .venv/bin/python bench/ecotaxa_export.py [--objects 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
from sqlalchemy import create_engine, insert
from sqlalchemy.orm import Session

from specimen_classify.adapters.ecotaxa_archive import write_ecotaxa_zip
from specimen_classify.adapters.ecotaxa_export_repository import (
    ExportFilters,
    export_feature_names,
    export_project,
    export_rows,
)
from specimen_classify.adapters.tables import Base, FrameRow, PlanktonObjectRow, ProjectRow
from specimen_classify.domain.plankton.ecotaxa import EcotaxaLayout, plain_csv, process_fields
from specimen_classify.domain.plankton.ecotaxa_import import check_ecotaxa_tsv
from specimen_imaging.measurements import FEATURE_NAMES_V2
from specimen_kit.blobs import FilesystemBlobStore

PER_FRAME = 200
CROPS = 200
SETTINGS = {"threshold": {"method": "otsu"}, "min_area": 10, "padding": 4, "fade_background": True}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fill(workdir: Path, objects: int) -> None:
    store = FilesystemBlobStore(workdir / "blobs")
    rng = np.random.default_rng(0)
    keys = []
    for _ in range(CROPS):
        _, png = cv2.imencode(".png", rng.integers(0, 255, (64, 64), dtype=np.uint8))
        keys.append(store.put(png.tobytes()))
    engine = create_engine(f"sqlite:///{workdir / 'export.db'}")
    Base.metadata.create_all(engine)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    frames = (objects + PER_FRAME - 1) // PER_FRAME
    with Session(engine) as session:
        session.add(ProjectRow(id=1, name="Bench cruise", description="", instrument="sHIP",
                               pixel_size_um=10.0, settings=json.dumps(SETTINGS), owner_id=1,
                               created_at=now, updated_at=now))
        session.flush()
        session.execute(insert(FrameRow), [
            {"id": f + 1, "project_id": 1, "file_name": f"frame_{f:05d}.png", "image_key": f"{f:032x}",
             "media_type": "image/png", "bytes": 1, "width": 1024, "height": 1024,
             "sample_id": f"st{f // 50}", "acq_id": f"st{f // 50}_a{f // 10}", "latitude": 43.6,
             "longitude": 7.3, "depth_min": 0.0,
             "depth_max": 50.0, "taken_at": now, "created_by": 1, "created_at": now} for f in range(frames)])
        statuses = rng.choice(["predicted", "validated", "dubious"], size=objects, p=[0.7, 0.2, 0.1])
        for start in range(0, objects, 5000):
            batch = []
            for i in range(start, min(objects, start + 5000)):
                values = rng.random(len(FEATURE_NAMES_V2)) * 100
                status = str(statuses[i])
                batch.append({
                    "id": i + 1, "project_id": 1, "frame_id": i // PER_FRAME + 1, "job_id": 1,
                    "rank": i % PER_FRAME + 1, "min_row": 10, "min_col": 20, "max_row": 60, "max_col": 90,
                    "centroid_row": 35.5, "centroid_col": 55.5,
                    "features": json.dumps(
                        dict(zip(FEATURE_NAMES_V2, values.round(6).tolist(), strict=True))),
                    "feature_set_version": "2", "crop_key": keys[i % CROPS], "mask_key": None,
                    "category": ["copepod", "single_cell", "fecal_pellet"][i % 3], "probability": 0.8,
                    "scores": "{}", "model_name": "plankton", "model_version": 1, "status": status,
                    "annotated_by": 2 if status != "predicted" else None,
                    "annotated_by_name": "Zoé" if status != "predicted" else None,
                    "annotated_at": now if status != "predicted" else None, "created_at": now})
            session.execute(insert(PlanktonObjectRow), batch)
        session.commit()


def export(workdir: Path, kind: str) -> None:
    engine = create_engine(f"sqlite:///{workdir / 'export.db'}")
    store = FilesystemBlobStore(workdir / "blobs")
    filters = ExportFilters()
    with Session(engine) as session:
        project = export_project(session, 1)
        assert project is not None
        layout = EcotaxaLayout(project=project, feature_names=export_feature_names(session, 1, filters),
                               process_settings=process_fields([SETTINGS]))
        baseline = rss_mb()
        started, cpu_started = time.perf_counter(), time.process_time()
        rows = export_rows(session, 1, filters, {1: SETTINGS})
        if kind == "zip":
            keys: dict[int, str | None] = {}

            def only_rows():  # type: ignore[no-untyped-def]
                for row, key in rows:
                    keys[row.object_pk] = key
                    yield row

            with tempfile.NamedTemporaryFile(dir=workdir, suffix=".zip") as target:
                summary = write_ecotaxa_zip(target, only_rows(), layout,
                                            lambda row: store.get(keys.pop(row.object_pk) or ""),
                                            spool_dir=str(workdir))
                target.flush()
                blob = store.put_file(Path(target.name))
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            peak = rss_mb()
            with store.open(blob) as archive_file, zipfile.ZipFile(archive_file) as archive:
                names = set(archive.namelist())
                report = check_ecotaxa_tsv(archive.read(summary.tsv_name), image_names=names)
                size = sum(info.file_size for info in archive.infolist())
            size_on_disk = (store.root / blob[:2] / blob).stat().st_size
            result = {"objects": summary.objects, "bom": summary.bom, "ecotaxa_ok": report.ok,
                      "errors": report.errors[:3], "zip_mb": size_on_disk / 1e6, "content_mb": size / 1e6}
        else:
            out = workdir / "export.csv"
            count = 0
            with out.open("wb") as target:
                for chunk in plain_csv((row for row, _ in rows), layout):
                    target.write(chunk)
                    count += 1
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            peak = rss_mb()
            result = {"objects": count - 1, "csv_mb": out.stat().st_size / 1e6}
    print(json.dumps({"kind": kind, "seconds": seconds, "cpu_seconds": cpu, "rss_before_mb": baseline,
                      "peak_rss_mb": peak, **result}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--child", nargs=2, metavar=("WORKDIR", "KIND"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        export(Path(args.child[0]), args.child[1])
        return
    with tempfile.TemporaryDirectory(prefix="specimen-export-bench-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        fill(workdir, args.objects)
        print(f"filled {args.objects} objects in {time.perf_counter() - started:.1f} s")
        print("| export | objects | wall s | CPU s | objects per CPU s | RSS after imports (MB) "
              "| peak RSS (MB) | growth (MB) | output |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for kind in ("zip", "csv"):
            done = subprocess.run([sys.executable, __file__, "--child", str(workdir), kind],
                                  capture_output=True, text=True)
            if done.returncode:
                raise SystemExit(done.stderr)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            output = (f"ZIP {r['zip_mb']:.0f} MB, EcoTaxa rules {'ok' if r['ecotaxa_ok'] else r['errors']}, "
                      f"BOM {r['bom']}" if kind == "zip" else f"CSV {r['csv_mb']:.0f} MB")
            print(f"| {kind} | {r['objects']} | {r['seconds']:.1f} | {r['cpu_seconds']:.1f} | "
                  f"{r['objects'] / r['cpu_seconds']:,.0f} | "
                  f"{r['rss_before_mb']:.0f} | {r['peak_rss_mb']:.0f} | "
                  f"{r['peak_rss_mb'] - r['rss_before_mb']:.0f} | "
                  f"{output} |")


if __name__ == "__main__":
    main()

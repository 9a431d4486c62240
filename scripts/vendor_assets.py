"""The JavaScript the repository vendors from npm: pinned versions, checked by SHA-256.

The web UI ships htmx (served by the gateway) and its browser tests inject axe-core; both are
committed files, never fetched from a CDN at run time and never built by Node. This script is
the one place their versions and checksums are written down::

    python scripts/vendor_assets.py            # check the committed files against the pins
    python scripts/vendor_assets.py --fetch    # npm pack each pinned package again, verify, copy

``--fetch`` needs ``npm`` and the registry; the check needs neither (the gateway's tests run it).
To upgrade, change ``version`` and ``sha256`` below (the new digest from the package's file),
then run ``--fetch``: it refuses a download whose digest differs from the pin.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class VendoredFile:
    """One file of an npm package, kept at ``destination`` with its licence beside it."""

    package: str
    version: str
    path: str  # inside the package tarball, below ``package/``
    sha256: str
    destination: Path
    licenses: tuple[str, ...] = ("LICENSE",)
    purpose: str = ""

    @property
    def target(self) -> Path:
        return self.destination / Path(self.path).name

    def version_text(self) -> str:
        names = " ".join([Path(self.path).name, *self.licenses])
        return (f"{self.package} {self.version} (npm), files: {names}\n"
                f"sha256 {self.sha256}  {Path(self.path).name}\n"
                f"{self.purpose}\n"
                "Re-fetch and verify: python scripts/vendor_assets.py --fetch\n")


ASSETS = (
    VendoredFile(
        "htmx.org", "2.0.11", "dist/htmx.min.js",
        "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
        ROOT / "services/gateway/specimen_gateway/web/static/vendor/htmx",
        purpose="Served by the gateway to the web UI at /ui/static/vendor/htmx/htmx.min.js.",
    ),
    VendoredFile(
        "axe-core", "4.14.1", "axe.min.js",
        "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c",
        ROOT / "tests/ui/assets/axe-core",
        licenses=("LICENSE", "LICENSE-3RD-PARTY.txt"),
        purpose="Test-only: the browser tests inject it into every page (never served).",
    ),
)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check(assets: tuple[VendoredFile, ...] = ASSETS) -> list[str]:
    """What is wrong with the committed files (empty: every file matches its pin)."""
    problems = []
    for asset in assets:
        if not asset.target.is_file():
            problems.append(f"{asset.target} is missing")
        elif (found := digest(asset.target)) != asset.sha256:
            problems.append(f"{asset.target}: sha256 {found}, pinned {asset.sha256}")
        for name in asset.licenses:
            if not (asset.destination / name).is_file():
                problems.append(f"{asset.destination / name} is missing")
        version = asset.destination / "VERSION"
        if not version.is_file() or version.read_text() != asset.version_text():
            problems.append(f"{version} does not name {asset.package} {asset.version} "
                            "(run --fetch to rewrite it)")
    return problems


def fetch(asset: VendoredFile) -> None:
    """``npm pack`` the pinned version, verify the file's digest, then copy it in place."""
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(["npm", "pack", "--silent", f"{asset.package}@{asset.version}"],
                       cwd=work, check=True, stdout=subprocess.DEVNULL)
        (tarball,) = Path(work).glob("*.tgz")
        with tarfile.open(tarball) as archive:
            archive.extractall(work, filter="data")
        package = Path(work) / "package"
        source = package / asset.path
        if (found := digest(source)) != asset.sha256:
            raise SystemExit(f"{asset.package}@{asset.version} {asset.path}: sha256 {found}, "
                             f"pinned {asset.sha256}; refusing to vendor it")
        asset.destination.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, asset.target)
        for name in asset.licenses:
            shutil.copyfile(package / name, asset.destination / name)
        (asset.destination / "VERSION").write_text(asset.version_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetch", action="store_true", help="npm pack, verify and copy again")
    args = parser.parse_args(argv)
    if args.fetch:
        for asset in ASSETS:
            fetch(asset)
    problems = check()
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())

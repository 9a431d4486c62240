"""``make postman``: run the Postman collection with newman against a fresh local suite.

The suite starts on free loopback ports with its own temporary data directory (SQLite, the
embedded defaults of ``make run``), so it never touches ``./data`` or a suite already running.
newman comes from ``postman/package-lock.json`` (``npm ci``). Without npm the run is skipped
with a notice, except where ``SPECIMEN_TEST_REQUIRE_SERVICES=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from local_suite import DEFAULT_PORTS, SMALL_MODELS, LocalSuite
from specimen_kit.launch import free_port

POSTMAN_DIR = Path(__file__).resolve().parents[1] / "postman"
NEWMAN = POSTMAN_DIR / "node_modules" / ".bin" / "newman"


def ensure_newman() -> bool:
    if NEWMAN.exists():
        return True
    npm = shutil.which("npm")
    if npm is None:
        return False
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                   cwd=POSTMAN_DIR, check=True)
    return True


def main() -> int:
    if not ensure_newman():
        required = os.environ.get("SPECIMEN_TEST_REQUIRE_SERVICES") == "1"
        sys.stderr.write("npm is not installed: the Postman collection was not run"
                         + (" (required here)\n" if required else "; install Node.js to run it\n"))
        return 1 if required else 0
    admin_password = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="specimen-postman-") as data_dir:
        # Small default models: the collection checks the API, the cards show the real models' quality.
        suite = LocalSuite(Path(data_dir), ports={name: free_port() for name in DEFAULT_PORTS},
                           env={"SPECIMEN_ADMIN_PASSWORD": admin_password},
                           bootstrap_args=SMALL_MODELS)
        try:
            suite.start()
            result = subprocess.run([
                str(NEWMAN), "run", str(POSTMAN_DIR / "specimen.postman_collection.json"),
                "--environment", str(POSTMAN_DIR / "specimen.postman_environment.json"),
                "--env-var", f"baseUrl={suite.url('gateway')}",
                "--env-var", f"adminPassword={admin_password}",
                "--bail", "--color", "off", "--disable-unicode",
            ], check=False)
        except Exception:
            show_logs(suite)
            raise
        finally:
            suite.stop()
        if result.returncode != 0:
            show_logs(suite)
        return result.returncode


def show_logs(suite: LocalSuite, lines: int = 40) -> None:
    """The temporary data directory goes away with the run: print what the services said."""
    for log in sorted(suite.log_dir.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        sys.stderr.write(f"--- last {len(tail)} lines of {log.name}\n" + "\n".join(tail) + "\n")


if __name__ == "__main__":
    sys.exit(main())

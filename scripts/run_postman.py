"""``make postman``: check the Insomnia export, then run the Postman collection with newman
against a fresh local suite.

The committed Insomnia export must be Insomnia's importer's conversion of the committed
collection and carry every request (``scripts/insomnia_export.py``; ``make insomnia`` rewrites
it). The suite starts on free loopback ports with its own temporary data directory (SQLite, the
embedded defaults of ``make run``), so it never touches ``./data`` or a suite already running.
newman and the importer come from ``postman/package-lock.json`` (``npm ci``). Without npm both
are skipped with a notice, except where ``SPECIMEN_TEST_REQUIRE_SERVICES=1`` (CI) makes that a
failure.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

from insomnia_export import check_committed_export, ensure_node_packages
from local_suite import DEFAULT_PORTS, SMALL_MODELS, LocalSuite
from specimen_kit.launch import free_port

POSTMAN_DIR = Path(__file__).resolve().parents[1] / "postman"
NEWMAN = POSTMAN_DIR / "node_modules" / ".bin" / "newman"


def main() -> int:
    if not ensure_node_packages():
        required = os.environ.get("SPECIMEN_TEST_REQUIRE_SERVICES") == "1"
        sys.stderr.write("npm is not installed: the Postman collection was not run nor its "
                         "Insomnia export checked"
                         + (" (required here)\n" if required else "; install Node.js to run them\n"))
        return 1 if required else 0
    # Before the suite starts: a stale export fails in seconds, not after minutes of newman.
    problems = check_committed_export()
    for problem in problems:
        sys.stderr.write(f"insomnia export: {problem}\n")
    if problems:
        return 1
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

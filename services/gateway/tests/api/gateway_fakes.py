"""Small fake upstream services, run as real uvicorn servers on loopback ports.

Each echoes what it received (method, raw path, query, headers in order, body digest), and
serves ``/readyz`` (switchable), a JWKS document, a revocation list, an OpenAPI document, a slow route and a
large streamed response, which is all the gateway needs from the real services.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from specimen_kit.launch import free_port

BIG_CHUNK = bytes(range(256)) * 256  # 64 KiB
BIG_CHUNKS = 80  # 5 MiB


@dataclass
class FakeState:
    name: str
    ready: bool = True
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    openapi: dict[str, Any] | None = None
    revocations: list[dict[str, Any]] = field(default_factory=list)


def fake_upstream(state: FakeState) -> Starlette:
    async def readyz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ready" if state.ready else "not ready"},
                            status_code=200 if state.ready else 503)

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(state.jwks)

    async def revocations(request: Request) -> JSONResponse:
        return JSONResponse({"revocations": state.revocations})

    async def openapi(request: Request) -> JSONResponse:
        if state.openapi is None:
            return JSONResponse({"detail": "no document"}, status_code=404)
        return JSONResponse(state.openapi)

    async def echo(request: Request) -> Response:
        path = request.url.path
        if path.endswith("/slow"):
            await asyncio.sleep(float(request.query_params.get("delay", "2")))
        if path.endswith("/big"):
            async def chunks() -> Any:
                for _ in range(BIG_CHUNKS):
                    yield BIG_CHUNK
            return StreamingResponse(chunks(), media_type="application/octet-stream")
        if path.endswith("/status"):
            return Response(b"made", status_code=int(request.query_params["code"]),
                            headers={"location": "/elsewhere", "x-upstream": "1"})
        body = await request.body()
        return JSONResponse({
            "service": state.name,
            "method": request.method,
            "path": path,
            "raw_path": request.scope["raw_path"].decode("latin-1"),
            "query": request.scope["query_string"].decode("latin-1"),
            "headers": [[k.decode("latin-1"), v.decode("latin-1")]
                        for k, v in request.scope["headers"]],
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }, headers={"x-upstream": state.name})

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    return Starlette(routes=[
        Route("/readyz", readyz),
        Route("/.well-known/jwks.json", jwks),
        Route("/.well-known/revocations", revocations),
        Route("/openapi.json", openapi),
        Route("/{path:path}", echo, methods=methods),
    ])


class ThreadedServer:
    """A uvicorn server in a daemon thread, stopped with :meth:`stop`."""

    def __init__(self, app: Any, *, proxy_headers: bool = True) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, loop="asyncio",
                                log_level="warning", lifespan="on", access_log=False,
                                proxy_headers=proxy_headers)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)

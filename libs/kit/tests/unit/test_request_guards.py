"""The request guards of issue 9: admission (finding 8), body read deadline (9), JSON depth and
every error as problem+json with its request id (10)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request

from specimen_kit.inflight import InFlightLimitMiddleware
from specimen_kit.problems import PROBLEM_JSON
from specimen_kit.request_bodies import BodyReadDeadlineMiddleware, json_nesting_depth
from specimen_kit.service import build_service_app
from specimen_kit.settings import ServiceSettings


def _app(**settings: Any) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield

    app = build_service_app("test", ServiceSettings(**settings), lifespan, title="t")

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        return {"body": json.loads(await request.body())}

    @app.get("/recursion")
    async def recursion() -> None:
        raise RecursionError("maximum recursion depth exceeded")

    @app.get("/memory")
    def memory() -> None:
        raise MemoryError

    return app


@asynccontextmanager
async def _client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def _nested(depth: int) -> bytes:
    return b'{"a": ' * depth + b"1" + b"}" * depth


class TestJsonNestingDepth:
    @pytest.mark.parametrize(("text", "depth"), [
        (b"1", 0), (b"[]", 1), (b"[[], {}]", 2), (b'{"a": [1, {"b": 2}]}', 3),
        (b'["[[[[", "\\"[[["]', 1), (b'{"k\\\\": [[]]}', 3), (b"", 0),
    ])
    def test_counts_brackets_outside_strings(self, text: bytes, depth: int) -> None:
        assert json_nesting_depth(text) == depth

    def test_a_thousand_levels(self) -> None:
        assert json_nesting_depth(_nested(1000)) == 1000


class TestJsonDepthLimit:
    # Issue 9, finding 10: 1000 levels raised RecursionError, a 500 without a request id.
    async def test_too_deep_is_a_400_before_parsing(self) -> None:
        async with _client(_app(max_json_depth=64)) as client:
            response = await client.post("/echo", content=_nested(1000),
                                         headers={"content-type": "application/json"})
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["detail"] == (
            "The JSON body is nested 1000 levels deep; the limit is 64.")
        assert response.json()["request_id"] == response.headers["x-request-id"]

    async def test_at_the_limit_is_passed_on_unchanged(self) -> None:
        async with _client(_app(max_json_depth=3)) as client:
            response = await client.post("/echo", content=b'{"a": [{"b": "[[[["}]}',
                                         headers={"content-type": "application/json"})
        assert response.json() == {"body": {"a": [{"b": "[[[["}]}}

    async def test_other_media_types_are_not_inspected(self) -> None:
        async with _client(_app(max_json_depth=1)) as client:
            response = await client.post("/echo", content=b"[[1]]",
                                         headers={"content-type": "text/plain"})
        assert response.json() == {"body": [[1]]}


class TestEveryErrorIsAProblem:
    @pytest.mark.parametrize("path", ["/recursion", "/memory"])
    async def test_with_the_request_id(self, path: str) -> None:
        async with _client(_app()) as client:
            response = await client.get(path, headers={"x-request-id": "probe-1"})
        assert response.status_code == 500
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["request_id"] == "probe-1"


def _scope(path: str = "/work", headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "headers": headers or []}


class _Recorder:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        self.messages.append(message)

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.messages[0]["headers"])


class TestInFlightLimit:
    async def _held_app(self, release: asyncio.Event, started: list[str]) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            started.append(scope["path"])
            await release.wait()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b""})
        return app

    async def test_past_the_limit_and_the_wait_is_a_503_with_retry_after(self) -> None:
        release, started = asyncio.Event(), []
        guard = InFlightLimitMiddleware(await self._held_app(release, started), limit=2,
                                        queue_seconds=0.01, service="test")

        async def receive() -> dict[str, Any]:
            await asyncio.Event().wait()
            return {}

        holders = [asyncio.create_task(guard(_scope(), receive, _Recorder())) for _ in range(2)]
        await asyncio.sleep(0)
        refused = _Recorder()
        await guard(_scope(), receive, refused)
        release.set()
        await asyncio.gather(*holders)
        assert (len(started), refused.status, refused.headers[b"retry-after"]) == (2, 503, b"1")
        assert json.loads(refused.messages[1]["body"])["type"].endswith("/saturated")

    async def test_a_queued_request_runs_when_a_slot_frees(self) -> None:
        release, started = asyncio.Event(), []
        guard = InFlightLimitMiddleware(await self._held_app(release, started), limit=1,
                                        queue_seconds=5, service="test")

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        first = asyncio.create_task(guard(_scope("/first"), receive, _Recorder()))
        queued_send = _Recorder()
        queued = asyncio.create_task(guard(_scope("/queued"), receive, queued_send))
        await asyncio.sleep(0.01)
        assert started == ["/first"]
        release.set()
        await asyncio.gather(first, queued)
        assert (started, queued_send.status) == (["/first", "/queued"], 200)

    async def test_a_queued_request_whose_client_left_does_no_work(self) -> None:
        release, started = asyncio.Event(), []
        guard = InFlightLimitMiddleware(await self._held_app(release, started), limit=1,
                                        queue_seconds=5, service="test")

        async def gone() -> dict[str, Any]:
            return {"type": "http.disconnect"}

        first = asyncio.create_task(guard(_scope("/first"), gone, _Recorder()))
        abandoned_send = _Recorder()
        abandoned = asyncio.create_task(guard(_scope("/abandoned"), gone, abandoned_send))
        await asyncio.sleep(0.01)
        release.set()
        await asyncio.gather(first, abandoned)
        assert (started, abandoned_send.messages) == (["/first"], [])

    async def test_health_is_never_queued(self) -> None:
        release, started = asyncio.Event(), []
        guard = InFlightLimitMiddleware(await self._held_app(release, started), limit=1,
                                        queue_seconds=0, service="test")
        holder = asyncio.create_task(guard(_scope("/work"), None, _Recorder()))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        health = asyncio.create_task(guard(_scope("/healthz"), None, _Recorder()))  # type: ignore[arg-type]
        await asyncio.sleep(0)
        assert started == ["/work", "/healthz"]
        release.set()
        await asyncio.gather(holder, health)


class TestBodyReadDeadline:
    async def test_a_trickling_body_is_a_408(self) -> None:
        reached_app: list[dict[str, Any]] = []

        async def app(scope: Any, receive: Any, send: Any) -> None:
            reached_app.append(await receive())
            reached_app.append(await receive())

        parts = iter([{"type": "http.request", "body": b"x", "more_body": True}])

        async def receive() -> dict[str, Any]:
            part = next(parts, None)
            if part is None:
                await asyncio.Event().wait()  # the client stops sending
            return part  # type: ignore[return-value]

        guard = BodyReadDeadlineMiddleware(app, timeout_seconds=0.05, min_bytes_per_second=10**6,
                                           max_bytes=1000, service="test")
        sent = _Recorder()
        await guard(_scope(headers=[(b"content-length", b"1000")]), receive, sent)
        assert sent.status == 408
        assert sent.headers[b"connection"] == b"close"
        assert reached_app[-1] == {"type": "http.disconnect"}

    def test_the_time_allowed_grows_with_the_length(self) -> None:
        guard = BodyReadDeadlineMiddleware(None, timeout_seconds=10,  # type: ignore[arg-type]
                                           min_bytes_per_second=1000, max_bytes=50_000,
                                           service="test")
        assert (guard.seconds_allowed(0), guard.seconds_allowed(20_000),
                guard.seconds_allowed(None)) == (10, 30, 60)

    async def test_after_the_body_the_server_receive_is_not_timed(self) -> None:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            await receive()
            await asyncio.sleep(0.1)  # longer than the deadline, then waits for a disconnect
            assert await receive() == {"type": "http.disconnect"}
            await send({"type": "http.response.start", "status": 200, "headers": []})

        parts = iter([{"type": "http.request", "body": b"x", "more_body": False},
                      {"type": "http.disconnect"}])

        async def receive() -> dict[str, Any]:
            return next(parts)  # type: ignore[return-value]

        guard = BodyReadDeadlineMiddleware(app, timeout_seconds=0.01, min_bytes_per_second=10**6,
                                           max_bytes=10, service="test")
        sent = _Recorder()
        await guard(_scope(headers=[(b"content-length", b"1")]), receive, sent)
        assert sent.status == 200

"""Which headers cross the gateway, and the X-Forwarded-* it adds."""

from __future__ import annotations

from specimen_gateway.domain.headers import client_response_headers, upstream_request_headers


def _request(headers: list[tuple[bytes, bytes]], client: str | None = "10.0.0.9"):  # type: ignore[no-untyped-def]
    return upstream_request_headers(headers, client=client, scheme="https", request_id="rid-1")


class TestRequestHeaders:
    def test_hop_by_hop_host_and_proxy_headers_are_dropped(self) -> None:
        result = _request([
            (b"host", b"gw.example"), (b"connection", b"keep-alive, x-private"),
            (b"keep-alive", b"timeout=5"), (b"te", b"trailers"), (b"trailer", b"x"),
            (b"upgrade", b"h2c"), (b"proxy-authorization", b"Basic eA=="),
            (b"proxy-connection", b"keep-alive"), (b"x-private", b"1"),
            (b"authorization", b"Bearer abc"), (b"accept", b"*/*"),
        ])
        assert result.headers == [
            ("authorization", "Bearer abc"), ("accept", "*/*"),
            ("x-forwarded-for", "10.0.0.9"), ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "gw.example"), ("x-request-id", "rid-1"),
        ]

    def test_repeated_headers_keep_their_order(self) -> None:
        result = _request([(b"x-a", b"1"), (b"x-b", b"2"), (b"x-a", b"3")])
        assert result.headers[:3] == [("x-a", "1"), ("x-b", "2"), ("x-a", "3")]

    def test_body_framing_is_reported_not_forwarded(self) -> None:
        sized = _request([(b"content-length", b"12")])
        assert (sized.content_length, sized.chunked) == (12, False)
        streamed = _request([(b"transfer-encoding", b"chunked")])
        assert (streamed.content_length, streamed.chunked) == (None, True)
        assert not any(name in ("content-length", "transfer-encoding")
                       for name, _ in sized.headers + streamed.headers)
        empty = _request([])
        assert (empty.content_length, empty.chunked) == (None, False)

    def test_client_request_id_and_forwarding_headers_are_replaced(self) -> None:
        result = _request([(b"x-request-id", b"from-client"), (b"x-forwarded-proto", b"ftp"),
                           (b"x-forwarded-host", b"evil")])
        assert dict(result.headers)["x-request-id"] == "rid-1"
        assert dict(result.headers)["x-forwarded-proto"] == "https"
        assert "x-forwarded-host" not in dict(result.headers)

    def test_the_gateways_wait_goes_up_as_the_work_deadline(self) -> None:
        # Issue 9, finding 7: work went on after the gateway had answered 504.
        result = upstream_request_headers([(b"x-request-deadline", b"99999")], client=None,
                                          scheme="http", request_id=None, deadline_seconds=60.0)
        assert [v for n, v in result.headers if n == "x-request-deadline"] == ["60"]


class TestForwardedFor:
    def test_it_is_the_resolved_client_alone_never_the_chain_the_client_sent(self) -> None:
        # Issue 9, finding 4: the client's own hops reached the services, which believe the
        # gateway's header; a forged "203.0.113.7" became the address users throttled.
        result = _request([(b"x-forwarded-for", b"203.0.113.7, 198.51.100.2"),
                           (b"x-forwarded-for", b"192.0.2.1")])
        assert [v for n, v in result.headers if n == "x-forwarded-for"] == ["10.0.0.9"]

    def test_unknown_client_sends_none(self) -> None:
        result = _request([(b"x-forwarded-for", b"203.0.113.7")], client=None)
        assert "x-forwarded-for" not in dict(result.headers)


class TestResponseHeaders:
    def test_hop_by_hop_and_server_written_headers_are_dropped(self) -> None:
        headers = client_response_headers([
            (b"Content-Type", b"application/json"), (b"Transfer-Encoding", b"chunked"),
            (b"Connection", b"close, X-Private"), (b"X-Private", b"1"), (b"Date", b"x"),
            (b"Server", b"uvicorn"), (b"X-Request-ID", b"r"), (b"Set-Cookie", b"a=1"),
            (b"Set-Cookie", b"b=2"), (b"Content-Length", b"2"),
        ])
        assert headers == [(b"content-type", b"application/json"), (b"set-cookie", b"a=1"),
                           (b"set-cookie", b"b=2"), (b"content-length", b"2")]

"""What a worker behind the balancer relies on: the sticky cookie; green DNS for a Redis host name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from realtime.__main__ import needs_dns
from realtime.web.transport import NodeCookie


def test_the_sticky_cookie_is_compared_exactly() -> None:
    seen: list[list[tuple[str, str]]] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [])
        return [b""]

    middleware = NodeCookie(app, "w1")
    for cookie in ("", "realtime_node=w10", "other=1; realtime_node=w1"):
        environ = {"PATH_INFO": "/socket.io/", "HTTP_COOKIE": cookie}
        middleware(environ, lambda status, headers, *_: seen.append(headers))
    assert [bool(headers) for headers in seen] == [True, True, False]
    assert seen[1] == [("Set-Cookie", "realtime_node=w1; Path=/; HttpOnly; SameSite=Lax")]


@pytest.mark.parametrize(
    ("url", "lookup"),
    [("", False), ("redis://127.0.0.1:6379/0", False), ("rediss://[::1]:6380", False),
     ("redis://localhost:6379", False), ("rediss://ec2-1-2-3-4.compute.example.com:6380", True)],
)  # fmt: skip
def test_green_dns_stays_on_when_redis_has_a_host_name(url: str, lookup: bool) -> None:
    assert needs_dns(url) is lookup

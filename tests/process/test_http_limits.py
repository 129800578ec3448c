"""HTTP rate limits on a server process: 429 with Retry-After, X-Forwarded-For believed only from proxies.

The limiter's own rules (addresses, /64 blocks, the bounded table) are in tests/infra/test_ratelimit.py.
"""

from __future__ import annotations

import time

import requests

from harness.processes import ServerProcess
from tests.support.servers import ServerLauncher

SQUARE = {"strokes": [[[10, 90, 90, 10, 10], [10, 10, 90, 90, 10]]]}


def api(server: ServerProcess, forwarded_for: str | None = None) -> requests.Response:
    """POST a small drawing to /api/predict, optionally through a claimed chain of proxies."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return requests.post(server.url + "/api/predict", json=SQUARE, headers=headers, timeout=10)


def test_costly_routes_get_429_with_retry_after_per_client(start_server: ServerLauncher) -> None:
    server = start_server(
        env={"HTTP_RATE_LIMIT": "0.5", "HTTP_RATE_BURST": "3", "TRUSTED_PROXIES": "127.0.0.1"}
    )
    assert [api(server).status_code for _ in range(3)] == [200, 200, 200]
    refused = api(server)
    assert refused.status_code == 429
    assert refused.json()["code"] == "too_many_requests"
    assert 1 <= int(refused.headers["Retry-After"]) <= 2
    page = requests.post(server.url + "/predict", data={"url": "x"}, timeout=10)
    assert page.status_code == 429 and "Retry-After" in page.headers
    assert "<html" in page.text.lower()  # the error page, as for every other refused form post
    # Pages and the health check cost nothing and are never limited.
    assert requests.get(server.url + "/", timeout=10).status_code == 200
    assert requests.get(server.url + "/healthz", timeout=10).status_code == 200
    # Behind a trusted proxy (here: loopback), each forwarded client has its own budget.
    assert [api(server, "203.0.113.5").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert api(server, "203.0.113.6").status_code == 200
    time.sleep(2.1)  # one request earned back at 0.5 per second
    assert api(server).status_code == 200


def test_x_forwarded_for_from_an_untrusted_peer_buys_no_budget(start_server: ServerLauncher) -> None:
    server = start_server(env={"HTTP_RATE_LIMIT": "0.1", "HTTP_RATE_BURST": "2"})
    codes = [api(server, f"203.0.113.{i}").status_code for i in range(4)]
    assert codes == [200, 200, 429, 429]

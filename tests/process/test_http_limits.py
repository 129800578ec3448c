"""HTTP rate limits per client address: 429 with Retry-After, X-Forwarded-For believed only from proxies."""

from __future__ import annotations

import ipaddress
import time

import pytest
import requests

from harness.processes import ServerProcess
from realtime.infra.ratelimit import AddressLimiter, client_address, rate_key
from tests.conftest import ServerLauncher

SQUARE = {"strokes": [[[10, 90, 90, 10, 10], [10, 10, 90, 90, 10]]]}
PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"))


def api(server: ServerProcess, forwarded_for: str | None = None) -> requests.Response:
    """POST a small drawing to /api/predict, optionally through a claimed chain of proxies."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return requests.post(server.url + "/api/predict", json=SQUARE, headers=headers, timeout=10)


@pytest.mark.parametrize(
    ("remote", "forwarded", "client"),
    [
        ("198.51.100.7", None, "198.51.100.7"),
        ("198.51.100.7", "203.0.113.9", "198.51.100.7"),  # not a proxy: its header is not believed
        ("10.1.2.3", "203.0.113.9", "203.0.113.9"),  # a trusted proxy names the client
        ("10.1.2.3", "1.1.1.1, 203.0.113.9", "203.0.113.9"),  # the client wrote 1.1.1.1 itself
        ("10.1.2.3", "203.0.113.9, 10.9.9.9", "203.0.113.9"),  # two trusted proxies in a row
        ("10.1.2.3", "10.5.5.5, 10.9.9.9", "10.5.5.5"),  # only proxies: the farthest one
        ("10.1.2.3", "junk", "junk"),  # what the trusted proxy saw, whatever it is
        ("10.1.2.3", " , ", "10.1.2.3"),
        ("::ffff:10.1.2.3", "203.0.113.9", "203.0.113.9"),  # a dual-stack socket's view of a proxy
        (None, None, "unknown"),
    ],
)
def test_the_client_address_is_read_across_trusted_proxies_only(
    remote: str | None, forwarded: str | None, client: str
) -> None:
    assert client_address(remote, forwarded, PROXIES) == client


def test_ipv6_clients_share_a_budget_per_64_block() -> None:
    assert rate_key("2001:db8:1:2:aaaa::1") == rate_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert rate_key("2001:db8:1:3::1") != rate_key("2001:db8:1:2::1")
    assert (rate_key("::ffff:198.51.100.7"), rate_key("198.51.100.7"), rate_key("junk")) == (
        "198.51.100.7",
        "198.51.100.7",
        "junk",
    )


def test_each_address_has_its_own_bucket_and_the_table_is_bounded() -> None:
    limiter = AddressLimiter(rate=1.0, burst=2, max_addresses=3, clock=lambda: 100.0)
    assert [limiter.retry_after("a") for _ in range(3)] == [0.0, 0.0, 1.0]  # a request a second
    assert limiter.retry_after("a") == 1.0  # a refused request costs nothing
    assert limiter.retry_after("b") == 0.0  # another address is not held back
    for name in ("c", "d", "e"):  # "a" is the least recently seen: forgotten, with its debt
        limiter.retry_after(name)
    assert len(limiter._buckets) == 3
    assert limiter.retry_after("a") == 0.0


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

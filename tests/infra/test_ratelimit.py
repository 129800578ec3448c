"""Rate limits per client address (realtime.infra.ratelimit): the address read across trusted proxies only,
IPv6 clients per /64 block, a bucket per address in a bounded table.
"""

from __future__ import annotations

import ipaddress

import pytest

from realtime.infra.ratelimit import AddressLimiter, client_address, rate_key

PROXIES = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.1/32"))


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

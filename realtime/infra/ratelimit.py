"""Token buckets: per Socket.IO connection (realtime.web.gate), per client address, and who a client is."""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable, Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


Monotonic = Callable[[], float]  # seconds, only ever compared with itself (time.monotonic, or a test's)


class TokenBucket:
    """Allow `rate` units per second on average, with bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float, clock: Monotonic = time.monotonic) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.clock = clock
        self.stamp = clock()

    def _refill(self) -> None:
        """Add the tokens earned since the last refill."""
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def has(self, amount: float = 1.0) -> bool:
        """Refill, then tell whether `amount` tokens are there."""
        self._refill()
        return self.tokens >= amount

    def spend(self, amount: float = 1.0) -> None:
        """Take `amount` tokens (that `has` found there)."""
        self.tokens -= amount

    def take(self, amount: float = 1.0) -> bool:
        """Spend `amount` tokens if they are there; tell whether they were."""
        if self.has(amount):
            self.spend(amount)
            return True
        return False

    def seconds_until(self, amount: float) -> float:
        """Return how long until `amount` tokens are there (0 if they already are)."""
        return max(0.0, (amount - self.tokens) / self.rate)


class AddressLimiter:
    """One token bucket per client address, for at most `max_addresses` addresses at a time.

    When the table is full, the address not seen for longest is forgotten: it starts again with a full
    burst, which costs a flood of fresh addresses more than it gains them.
    """

    def __init__(
        self, rate: float, burst: int, max_addresses: int = 10_000, clock: Monotonic = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_addresses = max_addresses
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}  # least recently seen first
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> float:
        """Spend one request of `address`'s budget; return 0 if allowed, else the seconds until it is."""
        with self._lock:
            bucket = self._buckets.pop(address, None)
            if bucket is None:
                bucket = TokenBucket(self.rate, self.burst, self.clock)
                if len(self._buckets) >= self.max_addresses:
                    del self._buckets[next(iter(self._buckets))]
            self._buckets[address] = bucket
            return 0.0 if bucket.take() else bucket.seconds_until(1.0)


def client_address(remote: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """Return the client's address: the peer's, or, behind trusted proxies, the one they forwarded.

    `X-Forwarded-For` is read from the right (each proxy appends the address it saw) and only across
    proxies in `trusted`; the first address not in `trusted` is the client. A client can put anything in
    the header itself, so nothing left of that address is believed.
    """
    address = remote or "unknown"
    if not forwarded_for or not _trusted(address, trusted):
        return address
    for hop in reversed([item.strip() for item in forwarded_for.split(",")]):
        if not hop:
            continue
        address = hop
        if not _trusted(hop, trusted):
            break
    return address


def rate_key(address: str) -> str:
    """Return whose budget an address spends: IPv6 clients by their /64 (one host holds a whole /64)."""
    ip = _ip(address)
    if ip is None:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """Parse an address; an IPv4 address mapped into IPv6 (a dual-stack socket's view) is IPv4."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    """Tell whether an address lies in one of the trusted networks (False for anything not an address)."""
    ip = _ip(address)
    return ip is not None and any(ip in network for network in trusted)


def retry_after_seconds(seconds: float) -> int:
    """Return a Retry-After value: whole seconds, rounded up, at least 1."""
    return max(1, math.ceil(seconds))

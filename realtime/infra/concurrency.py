"""Run slow calls off eventlet's event loop, and lock across OS threads in either async mode."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

# How the server runs (ASYNC_MODE): eventlet's green threads, or an OS thread per request and connection.
ASYNC_MODES = ("eventlet", "threading")


class Lock(Protocol):
    """What a lock offers here: a context manager."""

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> Any: ...


def os_thread_lock() -> Lock:
    """Return a lock between OS threads, even when eventlet has replaced `threading` with green locks."""
    patcher = sys.modules.get("eventlet.patcher")
    if patcher is not None and patcher.is_monkey_patched("thread"):
        return patcher.original("_thread").allocate_lock()
    return threading.Lock()


def call_directly(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` in the calling thread (threading mode: every handler already has its own thread)."""
    return fn(*args)


def call_in_tpool(fn: Callable[..., T], *args: Any) -> T:
    """Run `fn` on eventlet's OS thread pool, so the event loop keeps serving other clients meanwhile."""
    from eventlet import tpool

    return tpool.execute(fn, *args)


def size_tpool(threads: int) -> None:
    """Set how many OS threads eventlet's tpool starts (on its first use; a running pool keeps its size)."""
    from eventlet import tpool

    tpool.set_num_threads(threads)


def blocking_caller(async_mode: str) -> Callable[..., Any]:
    """Pick how calls of milliseconds (PNG decoding and the classic path) run for this async mode."""
    return call_in_tpool if async_mode == "eventlet" else call_directly

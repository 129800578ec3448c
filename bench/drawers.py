"""Simulated drawers: Socket.IO clients replaying real Quick, Draw! drawings as the page sends them.

The benchmark runs this as its own process (`python -m bench.drawers --url URL --drawers N --speed S
--duration D`), never inside the server. Each drawer replays raw drawings from ../shared/quickdraw with their
recorded timing (divided by `speed`), mapped onto the page's 1000 × 1000 square, points batched per 60 Hz
animation frame, then `stroke_end` when the pen lifts; after a drawing it looks at the guess, sends `clear`
and starts the next one. It records, for every update, the time from its emit to the prediction covering it.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import random
import time
from collections import Counter, deque
from typing import Any

import aiohttp
import psutil

from bench.live_client import LiveClient
from bench.workers import hear, tell
from harness.page import FRAME_S, SEND_INTERVAL_S, Step, page_batches
from harness.quickdraw import ANIMALS, drawings

PAGE_SIDE = 1000.0  # the page's logical canvas
MIN_STEP = 0.5  # the page drops points closer than this to the previous one (both axes)
LOOK_S = 1.0  # at human speed: time spent looking at the guess before clearing
PAUSE_S = 0.5  # at human speed: time between clearing and the next drawing's first stroke
START_SPREAD_S = 0.5  # drawers start at random moments within this window, not in lock-step
DRAIN_S = 3.0  # after the run, how long to wait for predictions covering the last updates
CONNECT_AT_ONCE = 20
CONNECT_TIMEOUT_S = 20.0


def page_strokes(drawing: list[Any]) -> list[list[tuple[float, float, float]]]:
    """Place a raw drawing on the page's square as the page records it: (x, y, t ms) points, 0.1 precision."""
    xs = [x for stroke in drawing for x in stroke[0]]
    ys = [y for stroke in drawing for y in stroke[1]]
    extent = max(max(xs) - min(xs), max(ys) - min(ys)) or 1.0
    scale = 0.9 * PAGE_SIDE / extent
    out = []
    for stroke_x, stroke_y, stroke_t in drawing:
        kept: list[tuple[float, float, float]] = []
        for x, y, t in zip(stroke_x, stroke_y, stroke_t, strict=True):
            point = (
                round((x - min(xs)) * scale + 0.05 * PAGE_SIDE, 1),
                round((y - min(ys)) * scale + 0.05 * PAGE_SIDE, 1),
                float(t),
            )
            last = kept[-1] if kept else None
            if last and abs(point[0] - last[0]) < MIN_STEP and abs(point[1] - last[1]) < MIN_STEP:
                continue
            kept.append(point)
        out.append(kept)
    return out


def replay(
    drawing: list[Any], speed: float, send_interval: float = SEND_INTERVAL_S
) -> tuple[list[Step], float]:
    """Turn a raw drawing into the page's messages at `speed` × its recorded pace, and the cycle's length.

    The drawing is placed on the page's square, batched as the page batches it (harness.page), and
    followed by `clear` LOOK_S (scaled) after the last stroke; the next drawing starts PAUSE_S (scaled)
    after that.
    """
    steps = page_batches(page_strokes(drawing), speed, send_interval)
    at = steps[-1].at if steps else 0.0
    steps.append(Step(at + LOOK_S / speed, "clear"))
    return steps, at + (LOOK_S + PAUSE_S) / speed


def merged(steps: list[Step]) -> list[tuple[str, dict[str, Any]]]:
    """Merge consecutive point batches that are due together into one message, as one late frame would."""
    out: list[tuple[str, dict[str, Any]]] = []
    for step in steps:
        if step.event == "stroke_points" and out and out[-1][0] == "stroke_points":
            out[-1][1]["points"] = out[-1][1]["points"] + step.points
        elif step.event == "stroke_points":
            out.append((step.event, {"points": step.points}))
        else:
            out.append((step.event, {}))
    return out


class Drawer:
    """One simulated person at the page: a Socket.IO connection, a script of drawings, what it measured."""

    def __init__(self, scripts: list[tuple[list[Step], float]], first: int, url: str) -> None:
        self.scripts = scripts
        self.first = first
        self.client = LiveClient(url, self._event)
        self.ready = asyncio.Event()
        self.seq = 0
        self.pending: deque[tuple[int, float]] = deque()  # (seq, emit time) of updates not yet covered
        self.latency_ms: list[float] = []
        self.server_ms: list[float] = []
        self.lag_ms: list[float] = []  # how late each message left against the replay's schedule
        self.received: list[float] = []  # arrival time of every prediction
        self.pen_down: list[tuple[float, float]] = []
        self.opened_at: float | None = None
        self.sent: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def _event(self, name: str, payload: Any) -> None:
        """Take one event from the server."""
        if name == "prediction":
            self._prediction(payload)
        elif name == "ready":
            self.ready.set()
        elif name == "error":
            self.errors.update([str(payload.get("code"))])

    def _prediction(self, payload: dict[str, Any]) -> None:
        """Resolve every pending update the prediction covers (seq up to the prediction's)."""
        now = time.perf_counter()
        self.received.append(now)
        self.server_ms.append(payload.get("ms", 0.0))
        while self.pending and self.pending[0][0] <= payload["seq"]:
            self.latency_ms.append(round((now - self.pending.popleft()[1]) * 1000.0, 3))

    async def connect(self, session: aiohttp.ClientSession) -> None:
        """Connect over WebSocket and wait for `ready`."""
        await self.client.connect(session, CONNECT_TIMEOUT_S)
        await asyncio.wait_for(self.ready.wait(), CONNECT_TIMEOUT_S)

    async def _send(self, event: str, payload: dict[str, Any]) -> None:
        """Emit one update with the next seq and note when it left."""
        self.seq += 1
        now = time.perf_counter()
        if event == "stroke_points" and self.opened_at is None:
            self.opened_at = now
        elif event == "stroke_end" and self.opened_at is not None:
            self.pen_down.append((self.opened_at, now))
            self.opened_at = None
        self.pending.append((self.seq, now))
        self.sent[event] += 1
        await self.client.emit(event, {"seq": self.seq, **payload})

    async def _draw(self, steps: list[Step], stop_at: float) -> bool:
        """Replay one drawing's messages on schedule; False when the run ended first."""
        start = time.perf_counter()
        i = 0
        while i < len(steps):
            wait = start + steps[i].at - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            now = time.perf_counter()
            if now >= stop_at:
                return False
            j = i
            while j < len(steps) and start + steps[j].at <= now:
                j += 1
            self.lag_ms.append(round((now - start - steps[i].at) * 1000.0, 3))
            for event, payload in merged(list(steps[i:j])):
                await self._send(event, payload)
            i = j
        return True

    async def run(self, delay: float, stop_at: float) -> None:
        """Draw one drawing after another until `stop_at`."""
        await asyncio.sleep(delay)
        for k in range(self.first, self.first + 10_000):
            steps, cycle = self.scripts[k % len(self.scripts)]
            start = time.perf_counter()
            if not await self._draw(steps, stop_at):
                break
            await asyncio.sleep(max(0.0, min(start + cycle, stop_at) - time.perf_counter()))
            if time.perf_counter() >= stop_at:
                break
        if self.opened_at is not None:
            self.pen_down.append((self.opened_at, stop_at))
            self.opened_at = None

    def guesses_while_drawing(self) -> tuple[int, float]:
        """Count predictions that arrived while the pen was down (plus one frame); return (count, seconds)."""
        count, seconds = 0, 0.0
        for n, (start, end) in enumerate(self.pen_down):
            end += FRAME_S
            if n + 1 < len(self.pen_down):
                end = min(end, self.pen_down[n + 1][0])
            count += bisect.bisect_left(self.received, end) - bisect.bisect_left(self.received, start)
            seconds += end - start
        return count, seconds


async def _connect_all(
    drawers: list[Drawer], session: aiohttp.ClientSession
) -> tuple[list[Drawer], list[str]]:
    """Connect every drawer, a few at a time; return those connected and why the others failed."""
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)

    async def one(drawer: Drawer) -> str | None:
        async with gate:
            try:
                await drawer.connect(session)
            except Exception as exc:
                return f"{type(exc).__name__}: {exc}"
            return None

    outcomes = await asyncio.gather(*(one(d) for d in drawers))
    return [d for d, o in zip(drawers, outcomes, strict=True) if o is None], [o for o in outcomes if o]


def summary(drawers: list[Drawer], duration: float, cpu_s: float) -> dict[str, Any]:
    """Pool what the drawers measured into one JSON-able result."""
    sent: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    rates = []
    pen_down_s = 0.0
    for drawer in drawers:
        sent.update(drawer.sent)
        errors.update(drawer.errors)
        count, seconds = drawer.guesses_while_drawing()
        pen_down_s += seconds
        if seconds >= 0.25:  # too little drawing to tell a rate from
            rates.append(round(count / seconds, 3))
    return {
        "drawers": len(drawers),
        "updates": sum(sent.values()),
        "by_event": dict(sent),
        "predictions": sum(len(d.received) for d in drawers),
        "uncovered": sum(len(d.pending) for d in drawers),
        "latency_ms": [x for d in drawers for x in d.latency_ms],
        "server_ms": [x for d in drawers for x in d.server_ms],
        "lag_ms": [x for d in drawers for x in d.lag_ms],
        "guesses_per_s_while_drawing": rates,
        "pen_down_s": round(pen_down_s, 3),
        "errors": dict(errors),
        "send_s": duration,
        "cpu_s": cpu_s,
    }


async def work(args: argparse.Namespace) -> None:
    """Connect, wait for `go`, draw for the duration, drain, report, wait for `bye`, disconnect."""
    pool = [record["drawing"] for word in ANIMALS for record in drawings(word, "raw")]
    rng = random.Random(args.seed)
    rng.shuffle(pool)
    scripts = [replay(drawing, args.speed, args.send_interval_ms / 1000.0) for drawing in pool]
    drawers = [Drawer(scripts, rng.randrange(len(scripts)), args.url) for _ in range(args.drawers)]
    # No pool limit: every drawer holds its own connection for the whole run.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await _drive(drawers, session, rng, args)


async def _drive(
    drawers: list[Drawer], session: aiohttp.ClientSession, rng: random.Random, args: argparse.Namespace
) -> None:
    """Connect, wait for `go`, draw, report, wait for `bye`, disconnect (the body of `work`)."""
    connected, failures = await _connect_all(drawers, session)
    tell({"ready": len(connected), "connect_failures": failures})
    loop = asyncio.get_running_loop()
    if await loop.run_in_executor(None, hear) != "go":
        return
    me = psutil.Process()
    cpu = me.cpu_times()
    start = time.perf_counter()
    stop_at = start + args.duration
    await asyncio.gather(*(d.run(rng.uniform(0, args.start_spread), stop_at) for d in connected))
    duration = time.perf_counter() - start
    deadline = time.perf_counter() + DRAIN_S
    while any(d.pending for d in connected) and time.perf_counter() < deadline:
        await asyncio.sleep(0.01)
    used = me.cpu_times()
    result = summary(connected, duration, (used.user + used.system) - (cpu.user + cpu.system))
    result["connect_failures"] = failures
    tell(result)
    await loop.run_in_executor(None, hear)
    await asyncio.wait_for(asyncio.gather(*(d.client.close() for d in connected)), 30)


def main() -> None:
    """Run one load-generator process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the server, http://127.0.0.1:PORT")
    parser.add_argument("--drawers", type=int, required=True)
    parser.add_argument("--speed", type=float, default=1.0, help="replay speed: 1 = as drawn, 10 = ten times")
    parser.add_argument("--duration", type=float, required=True, help="seconds of drawing")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--send-interval-ms",
        type=float,
        default=SEND_INTERVAL_S * 1000,
        help=f"ms between two point messages at least (default {SEND_INTERVAL_S * 1000:g}; 0: every frame)",
    )
    parser.add_argument(
        "--start-spread",
        type=float,
        default=START_SPREAD_S,
        help=f"drawers start at random moments within this many seconds (default {START_SPREAD_S})",
    )
    args = parser.parse_args()
    if not args.url.startswith("http://127.0.0.1:"):
        parser.error("the benchmark only talks to 127.0.0.1")
    asyncio.run(work(args))


if __name__ == "__main__":
    main()

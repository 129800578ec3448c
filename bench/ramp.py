"""Find the most drawers a server holds at a fixed quality: steps of more drawers, then a bisection.

The quality target (issues 13 and 14): p99 update → covering prediction ≤ 50 ms and every drawer
≥ 10 guesses/s while drawing, with no errors, no failed connections and every update covered. Each step
runs simulated drawers (bench.drawers, in processes of their own) against one URL: a server, or nginx in
front of a cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench import report
from bench.workers import run_workers

P99_MS = 50.0
MIN_GUESSES = 10.0
DRAWERS_PER_GENERATOR = 75
MAX_GENERATORS = 2  # the machine has 2 cores: more generator processes only fight the server for them
SETTLE_S = 1.0  # pause between steps, for connections to close and the server to go idle


def step(
    url: str,
    probe: Callable[[], dict[str, Any]],
    drawers: int,
    duration: float,
    out: Path,
    *,
    name: str,
    speed: float = 1.0,
    start_spread: float | None = None,
    send_interval_ms: float | None = None,
    seed: int = 7000,
) -> dict[str, Any]:
    """Run `drawers` drawers at `speed` against `url` for `duration` s; return the pooled figures."""
    generators = min(MAX_GENERATORS, -(-drawers // DRAWERS_PER_GENERATOR), drawers)
    spread = [] if start_spread is None else ["--start-spread", str(start_spread)]
    spread += [] if send_interval_ms is None else ["--send-interval-ms", str(send_interval_ms)]
    specs = [
        (
            "bench.drawers",
            [
                "--url", url,
                "--drawers", str(drawers // generators + (1 if g < drawers % generators else 0)),
                "--speed", str(speed),
                "--duration", str(duration),
                "--seed", str(seed + 100 * drawers + g),
                *spread,
            ],
        )
        for g in range(generators)
    ]  # fmt: skip
    results, before, after = run_workers(
        specs, out, ready_timeout=120, run_timeout=duration + 60, probe=probe
    )
    figures = report.live_figures(name, speed, results, before, after)
    figures["start_spread_s"] = start_spread
    figures["send_interval_ms"] = send_interval_ms
    figures["met"] = met(figures)
    print(
        f"  {drawers:>4} drawers: p99 {figures['latency_ms']['p99']} ms, slowest "
        f"{figures['guesses_per_s_while_drawing']['min']} guesses/s, errors {sum(figures['errors'].values())}"
        f" -> {'held' if figures['met'] else 'missed'}",
        flush=True,
    )
    return figures


def met(figures: dict[str, Any]) -> bool:
    """Tell whether a step met the quality target."""
    p99 = figures["latency_ms"]["p99"]
    slowest = figures["guesses_per_s_while_drawing"]["min"]
    return (
        report.clean(figures)
        and p99 is not None
        and p99 <= P99_MS
        and slowest is not None
        and slowest >= MIN_GUESSES
    )


def ramp(run: Callable[[int], dict[str, Any]], steps: Sequence[int], resolution: int) -> list[dict[str, Any]]:
    """Run `steps` in turn until one misses, then bisect between the last held and the first missed.

    `run(drawers)` measures one step. The bisection stops when the two are `resolution` drawers apart.
    Returns every step's figures, in the order run.
    """
    runs: list[dict[str, Any]] = []
    held, missed = 0, None
    for drawers in steps:
        runs.append(run(drawers))
        time.sleep(SETTLE_S)
        if not runs[-1]["met"]:
            missed = drawers
            break
        held = drawers
    while missed is not None and missed - held > resolution:
        drawers = (held + missed) // 2
        runs.append(run(drawers))
        time.sleep(SETTLE_S)
        if runs[-1]["met"]:
            held = drawers
        else:
            missed = drawers
    return runs


def best(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Return the step with the most drawers that met the target (None if none did)."""
    return max((r for r in runs if r["met"]), key=lambda r: r["drawers"], default=None)

"""`python -m bench --cluster N`: how many drawers 1, 2, ... N workers behind nginx hold at a fixed quality.

For each worker count, a cluster (realtime.cluster: a private redis-server, the workers, nginx) is started
and simulated drawers (bench.drawers) connect through nginx at human speed, in steps of more drawers, until
the quality target is missed: p99 update → covering prediction ≤ 50 ms and every drawer ≥ 10 guesses/s
while drawing, with no errors. The figure per worker count is the most drawers that met it.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench import report
from bench.server import busy_s, steal_s
from bench.workers import run_workers
from realtime.cluster import Cluster
from realtime.processes import free_port

STEPS = (5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 100, 120, 150)
P99_MS = 50.0
MIN_GUESSES = 10.0
DRAWERS_PER_GENERATOR = 50
MAX_GENERATORS = 2  # the machine has 2 cores: more generator processes only fight the workers for them
SETTLE_S = 1.0


def _probe(pids: list[int]) -> dict[str, Any]:
    """Read the clock and the workers' CPU and memory (summed)."""
    processes = [psutil.Process(pid) for pid in pids]
    times = [p.cpu_times() for p in processes]
    return {
        "t": time.perf_counter(),
        "server_cpu_s": sum(t.user + t.system for t in times),
        "server_user_s": sum(t.user for t in times),
        "server_system_s": sum(t.system for t in times),
        "rss_mb": sum(p.memory_info().rss for p in processes) / 2**20,
        "peak_rss_mb": sum(p.memory_info().rss for p in processes) / 2**20,
        "busy_s": busy_s(),
        "steal_s": steal_s(),
    }


def step(url: str, pids: list[int], drawers: int, duration: float, out: Path) -> dict[str, Any]:
    """Run `drawers` drawers at human speed through the balancer at `url`; return the pooled figures."""
    generators = min(MAX_GENERATORS, -(-drawers // DRAWERS_PER_GENERATOR), drawers)
    specs = [
        (
            "bench.drawers",
            [
                "--url", url,
                "--drawers", str(drawers // generators + (1 if g < drawers % generators else 0)),
                "--speed", "1",
                "--duration", str(duration),
                "--seed", str(7000 + 100 * drawers + g),
            ],
        )
        for g in range(generators)
    ]  # fmt: skip
    results, before, after = run_workers(
        specs, out, ready_timeout=120, run_timeout=duration + 60, probe=lambda: _probe(pids)
    )
    return report.live_figures(f"cluster {len(pids)}", 1.0, results, before, after)


def met(figures: dict[str, Any]) -> bool:
    """Tell whether a step met the quality target."""
    p99 = figures["latency_ms"]["p99"]
    slowest = figures["guesses_per_s_while_drawing"]["min"]
    clean = not figures["errors"] and not figures["connect_failures"] and not figures["uncovered"]
    return clean and p99 is not None and p99 <= P99_MS and slowest is not None and slowest >= MIN_GUESSES


def capacity(workers: int, duration: float, out: Path) -> dict[str, Any]:
    """Start a cluster of `workers` and ramp drawers up until the target is missed."""
    run_dir = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    run_dir.chmod(0o755)
    # One address sends everything here: the per-address HTTP limit is a defence, not a cost.
    cluster = Cluster(workers, "127.0.0.1", free_port(), run_dir, relay=False)
    steps: list[dict[str, Any]] = []
    try:
        cluster.start()
        pids = [w.process.pid for w in cluster.workers if w.process is not None]
        for drawers in STEPS:
            print(f"cluster: {workers} workers, {drawers} drawers for {duration:g} s ...", flush=True)
            figures = step(cluster.url, pids, drawers, duration, out)
            figures["met"] = met(figures)
            steps.append(figures)
            time.sleep(SETTLE_S)
            if not figures["met"]:
                break
    finally:
        cluster.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    held = [s for s in steps if s["met"]]
    best = held[-1] if held else None
    return {
        "workers": workers,
        "drawers_held": best["drawers"] if best else 0,
        "p99_ms_at_capacity": best["latency_ms"]["p99"] if best else None,
        "slowest_guesses_per_s_at_capacity": best["guesses_per_s_while_drawing"]["min"] if best else None,
        "cpu_ms_per_prediction_at_capacity": best["server_cpu_ms_per_prediction"] if best else None,
        "steps": steps,
    }


def run(max_workers: int, duration: float, out: Path) -> dict[str, Any]:
    """Measure the capacity of 1 ... `max_workers` workers in turn; return the figures and print a table."""
    rows = [capacity(n, duration, out) for n in range(1, max_workers + 1)]
    base = rows[0]["drawers_held"]
    print()
    print(f"drawers held at p99 ≤ {P99_MS:g} ms, ≥ {MIN_GUESSES:g} guesses/s each (human speed, via nginx)")
    print("workers  drawers  ×1 worker   p99 ms  slowest guesses/s  worker CPU ms/prediction")
    for row in rows:
        gain = f"{row['drawers_held'] / base:.2f}" if base else "-"
        p99, slowest = row["p99_ms_at_capacity"] or "-", row["slowest_guesses_per_s_at_capacity"] or "-"
        cpu = row["cpu_ms_per_prediction_at_capacity"] or "-"
        print(f"{row['workers']:>7}  {row['drawers_held']:>7}  {gain:>9}  {p99:>7}  {slowest:>17}  {cpu:>24}")
    return {"p99_ms_target": P99_MS, "min_guesses_per_s": MIN_GUESSES, "duration_s": duration, "rows": rows}

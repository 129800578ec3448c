"""`python -m bench --cluster N`: how many drawers 1, 2, ... N workers behind nginx hold at a fixed quality.

For each worker count, a cluster (harness.cluster: a private redis-server, the workers, nginx) is started
and simulated drawers (bench.drawers) connect through nginx at human speed, in steps of more drawers, until
the quality target (bench.ramp) is missed, then bisected. The figure per worker count is the most drawers
that met it.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from bench import ramp
from bench.server import busy_s, steal_s
from harness.cluster import Cluster
from harness.processes import free_port

STEPS = (5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 100, 120, 150)
RESOLUTION = 5  # drawers: the bisection between the last step held and the first missed stops here


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


def capacity(workers: int, duration: float, out: Path) -> dict[str, Any]:
    """Start a cluster of `workers` and ramp drawers up until the target is missed."""
    run_dir = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    run_dir.chmod(0o755)
    # One address sends everything here: the per-address HTTP limit is a defence, not a cost.
    cluster = Cluster(workers, "127.0.0.1", free_port(), run_dir, relay=False)
    try:
        cluster.start()
        pids = [w.process.pid for w in cluster.workers if w.process is not None]
        print(f"cluster: {workers} workers, {duration:g} s per step ...", flush=True)
        steps = ramp.ramp(
            lambda drawers: ramp.step(
                cluster.url, lambda: _probe(pids), drawers, duration, out, name=f"cluster {workers}"
            ),
            STEPS,
            RESOLUTION,
        )
    finally:
        cluster.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    best = ramp.best(steps)
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
    quality = f"p99 ≤ {ramp.P99_MS:g} ms, ≥ {ramp.MIN_GUESSES:g} guesses/s each"
    print(f"drawers held at {quality} (human speed, via nginx)")
    print("workers  drawers  ×1 worker   p99 ms  slowest guesses/s  worker CPU ms/prediction")
    for row in rows:
        gain = f"{row['drawers_held'] / base:.2f}" if base else "-"
        p99, slowest = row["p99_ms_at_capacity"] or "-", row["slowest_guesses_per_s_at_capacity"] or "-"
        cpu = row["cpu_ms_per_prediction_at_capacity"] or "-"
        print(f"{row['workers']:>7}  {row['drawers_held']:>7}  {gain:>9}  {p99:>7}  {slowest:>17}  {cpu:>24}")
    return {
        "p99_ms_target": ramp.P99_MS,
        "min_guesses_per_s": ramp.MIN_GUESSES,
        "duration_s": duration,
        "rows": rows,
    }

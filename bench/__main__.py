"""Benchmark the server as deployed: the live path under load, the classic path, reference costs, start-up.

Run from the repository root: `python -m bench [--drawers 1,10,100] [--duration S] [--quick] [--json PATH]`.
It starts `python -m realtime` (the Procfile command) on a free 127.0.0.1 port, drives it from load-generator
processes of its own (bench.drawers, bench.classic), times the references in another (bench.reference),
prints a table and writes the figures as JSON (default bench/out/results.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from bench import capacity, cluster, profile, ramp, report
from bench.server import ROOT, MeasuredServer, busy_s, steal_s
from bench.taught import word_database
from bench.workers import run_workers
from realtime.config import Config

OUT = ROOT / "bench" / "out"
SETTLE_S = 1.0  # pause between scenarios, for connections to close and the server to go idle (--quick: 0.2)
DRAWERS_PER_WORKER = 50  # one load-generator process per this many drawers (at most MAX_WORKERS)
MAX_WORKERS = 2  # the machine has 2 cores: more generator processes only fight the server for them
# The classic scenario posts from one address as fast as the server answers; the per-address HTTP rate
# limit (a defence, not a cost) would cap it, so the benchmark lifts it.
UNLIMITED_HTTP = {"HTTP_RATE_LIMIT": "1e9", "HTTP_RATE_BURST": "1000000000"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--drawers",
        default="1,10,100",
        help="numbers of simulated drawers, comma-separated; each runs at human and at 10× speed (1,10,100)",
    )
    parser.add_argument(
        "--target-drawers",
        type=int,
        default=report.TARGET_DRAWERS,
        help=f"drawers of the target runs, at 1× and 10× (default {report.TARGET_DRAWERS}; 0 skips them)",
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of load per scenario (default 10)"
    )
    parser.add_argument(
        "--classic", default="1,10", help="concurrencies of the classic POST /predict runs (1,10)"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="load-generator processes per live run (default: auto)"
    )
    parser.add_argument("--startups", type=int, default=3, help="start-up timings to take (default 3)")
    parser.add_argument(
        "--no-keras", action="store_true", help="skip the Keras reference even if TensorFlow is there"
    )
    parser.add_argument(
        "--profile", action="store_true", help="sample the server with py-spy during the target scenario"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run (about 20 s): 2 drawers, 3 for the targets, 1.5 s per scenario, no Keras",
    )
    parser.add_argument("--json", type=Path, default=OUT / "results.json", help="where to write the figures")
    parser.add_argument(
        "--send-interval-ms",
        type=float,
        default=None,
        help="the drawers' least time between two point messages (default: the page's, 33; 0: every frame)",
    )
    parser.add_argument(
        "--taught",
        type=int,
        default=0,
        help="serve this many taught words (kept in a database of the run's own): every prediction ranks "
        "them with the model's words (bench.taught; default 0)",
    )
    parser.add_argument(
        "--capacity",
        action="store_true",
        help="instead: the most drawers one server process holds at p99 ≤ 50 ms (bench.capacity)",
    )
    parser.add_argument(
        "--cluster",
        type=int,
        default=0,
        help="instead: the drawers 1..N workers behind nginx hold at p99 ≤ 50 ms (harness.cluster)",
    )
    args = parser.parse_args(argv)
    args.drawers = [int(n) for n in args.drawers.split(",") if n.strip()]
    args.classic = [int(n) for n in args.classic.split(",") if n.strip()]
    if args.quick:
        args.drawers, args.target_drawers, args.classic = [2], 3, [1]
        args.duration, args.startups, args.no_keras = 1.5, 1, True
    args.settle = 0.2 if args.quick else SETTLE_S
    if min(args.drawers + args.classic, default=1) < 1 or args.duration <= 0 or args.startups < 1:
        parser.error("drawers, concurrencies, duration and start-ups must be positive")
    if not 0 <= args.taught <= 1000:
        parser.error("--taught must be 0 to 1000 (the most TAUGHT_MAX_WORDS allows)")
    if args.duration > 600 or max([*args.drawers, args.target_drawers]) > 1000:
        parser.error("at most 600 s per scenario and 1000 drawers (the server's default MAX_CONNECTIONS)")
    return args


def machine() -> dict[str, Any]:
    """Describe the machine the figures come from."""
    models = [
        line.split(":", 1)[1].strip()
        for line in Path("/proc/cpuinfo").read_text().splitlines()
        if line.startswith("model name")
    ]
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "status", "--porcelain", "--", "realtime", "models"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    return {
        "nproc": os.cpu_count(),
        "cpu_model": models[0] if models else platform.processor(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "commit": commit or None,
        "uncommitted_server_files": [line[3:] for line in changed],
    }


def _children_cpu_s() -> float:
    """Return the CPU seconds used by this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def probe(server: MeasuredServer) -> dict[str, Any]:
    """Read the clock, the server's CPU and memory, and the whole machine's busy CPU time."""
    user, kernel = server.cpu_split()
    return {
        "t": time.perf_counter(),
        "server_cpu_s": user + kernel,
        "server_user_s": user,
        "server_system_s": kernel,
        "rss_mb": server.rss_mb(),
        "peak_rss_mb": server.peak_rss_mb(),
        "busy_s": busy_s(),
        "steal_s": steal_s(),
    }


def start_server(trials: int, taught: int = 0) -> tuple[MeasuredServer, dict[str, Any]]:
    """Start the server `trials` times, timing each start; keep the last one running.

    With `taught` words, the server keeps them in a database of this run's own (bench.taught).
    """
    log = OUT / "server.log"
    log.unlink(missing_ok=True)
    env = dict(UNLIMITED_HTTP)
    if taught:
        folder = OUT / "taught"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        env.update(word_database(taught, folder))
        env["TAUGHT_MAX_WORDS"] = str(max(taught, 1))
    times = []
    for n in range(trials):
        server = MeasuredServer(log, env=env)
        times.append(round(server.healthy_s, 3))
        if n + 1 < trials:
            server.stop()
    time.sleep(SETTLE_S)
    startup = {
        "healthy_s": times,
        "healthy_s_median": statistics.median(times),
        "idle_rss_mb": round(server.rss_mb(), 1),
    }
    return server, startup


def live(
    server: MeasuredServer,
    name: str,
    drawers: int,
    speed: float,
    args: argparse.Namespace,
    sample: bool = False,
) -> dict[str, Any]:
    """Run one live scenario: `drawers` drawers at `speed` × human pace; py-spy the server if `sample`."""
    workers = args.workers or min(MAX_WORKERS, -(-drawers // DRAWERS_PER_WORKER))
    workers = min(workers, drawers)
    interval = [] if args.send_interval_ms is None else ["--send-interval-ms", str(args.send_interval_ms)]
    print(f"live: {name}, {drawers} drawers at {speed:g}× for {args.duration:g} s ...", flush=True)
    specs = [
        (
            "bench.drawers",
            [
                "--url", server.url,
                "--drawers", str(drawers // workers + (1 if w < drawers % workers else 0)),
                "--speed", str(speed),
                "--duration", str(args.duration),
                "--seed", str(1000 * drawers + w),
                *interval,
            ],
        )
        for w in range(workers)
    ]  # fmt: skip
    out = OUT / f"profile-{name}-{drawers}-{speed:g}x.txt"
    spy: dict[str, Any] = {}

    def start_spy() -> None:
        spy["process"] = profile.record(server.process.pid, args.duration, out)

    results, before, after = run_workers(
        specs,
        OUT / "workers.log",
        ready_timeout=120,
        run_timeout=args.duration + 60,
        probe=lambda: probe(server),
        on_go=start_spy if sample else None,
    )
    figures = report.live_figures(name, speed, results, before, after)
    if sample:
        process = spy.get("process")
        figures["profile"] = (
            profile.finish(process, out, args.duration + 30)
            if process
            else {"error": "py-spy is not installed"}
        )
    time.sleep(args.settle)
    return figures


def classic(server: MeasuredServer, concurrency: int, args: argparse.Namespace) -> dict[str, Any]:
    """Run the classic path: `concurrency` clients posting canvas PNGs to /predict."""
    print(f"classic: POST /predict, concurrency {concurrency} for {args.duration:g} s ...", flush=True)
    spec = (
        "bench.classic",
        ["--url", server.url, "--concurrency", str(concurrency), "--duration", str(args.duration)],
    )
    results, before, after = run_workers(
        [spec],
        OUT / "workers.log",
        ready_timeout=120,
        run_timeout=args.duration + 120,
        probe=lambda: probe(server),
    )
    time.sleep(args.settle)
    return report.classic_figures(results, before, after)


def reference(args: argparse.Namespace) -> dict[str, Any]:
    """Time the reference costs in a process of their own (with the server stopped)."""
    print("reference costs ...", flush=True)
    command = [sys.executable, "-m", "bench.reference"]
    command += [] if args.no_keras else ["--keras"]
    command += ["--quick"] if args.quick else []
    busy, children, start = busy_s(), _children_cpu_s(), time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"bench.reference failed:\n{done.stderr[-3000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    other = (busy_s() - busy) - (_children_cpu_s() - children)
    figures["other_cpu_share"] = round(other / (time.perf_counter() - start), 3)
    return figures


def capacity_run(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """Ramp drawers against one server process: human speed, all starting together, 10×, classic POSTs."""
    steps = capacity.QUICK_STEPS if args.quick else capacity.STEPS
    resolution = 1 if args.quick else capacity.RESOLUTION
    results: dict[str, Any] = {"command": command, "quick": args.quick, "machine": machine()}
    server, results["startup"] = start_server(1, args.taught)
    results["taught_words"] = args.taught
    log = OUT / "workers.log"
    try:
        config = Config.from_env()
        results["server"] = {
            "model": server.health_at_start.get("version"),
            "max_batch": config.MAX_BATCH,
            # getattr: a before/after comparison may run this benchmark against older server code.
            "min_guess_interval_ms": getattr(config, "MIN_GUESS_INTERVAL_MS", None),
        }

        def at(drawers: int, **options: Any) -> dict[str, Any]:
            return ramp.step(
                server.url,
                lambda: probe(server),
                drawers,
                args.duration,
                log,
                send_interval_ms=args.send_interval_ms,
                **options,
            )

        print(f"capacity: human speed, {args.duration:g} s per step ...", flush=True)
        results["human"] = ramp.ramp(lambda n: at(n, name="human"), steps, resolution)
        print("capacity: every drawer starting together ...", flush=True)
        results["together"] = ramp.ramp(
            lambda n: at(n, name="together", start_spread=capacity.TOGETHER_S), steps, resolution
        )
        held = ramp.best(results["human"])
        print("capacity: the drawers held, at 10× speed ...", flush=True)
        results["fast"] = at(held["drawers"] if held else steps[0], name="10x", speed=10.0)
        time.sleep(args.settle)
        results["classic"] = classic(server, 1, args)
    finally:
        server.stop()
    results["summary"] = capacity.summary(
        results["human"], results["together"], results["fast"], results["classic"]
    )
    return results


def main(argv: list[str] | None = None) -> None:
    """Run every measurement, print the table and write the JSON."""
    args = parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "workers.log").unlink(missing_ok=True)
    if args.capacity:
        command = " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])])
        figures = capacity_run(args, command)
        print()
        print(capacity.table(figures))
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nwrote {args.json}")
        return
    if args.cluster:
        figures = {
            "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
            "machine": machine(),
            "cluster": cluster.run(args.cluster, args.duration, OUT / "workers.log"),
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
        print(f"\nwrote {args.json}")
        return
    config = Config.from_env()
    results: dict[str, Any] = {
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        "quick": args.quick,
        "machine": machine(),
    }
    server, results["startup"] = start_server(args.startups, args.taught)
    results["taught_words"] = args.taught
    try:
        results["server"] = {
            "command": ["python", *server.command[1:]],
            "model": server.health_at_start.get("version"),
            "rate_limit": config.RATE_LIMIT,
            "rate_burst": config.RATE_BURST,
            "max_batch": config.MAX_BATCH,
        }
        scenarios = [
            (name, n, speed) for n in args.drawers for name, speed in (("human", 1.0), ("10x", 10.0))
        ]
        if args.target_drawers:  # the targets: human speed, and saturation at about 2,000 updates/s
            scenarios += [("target", args.target_drawers, 1.0), ("target", args.target_drawers, 10.0)]
        results["live"] = [
            live(server, name, n, speed, args, sample=args.profile and name == "target" and speed == 1.0)
            for name, n, speed in scenarios
        ]
        results["classic"] = [classic(server, c, args) for c in args.classic]
    finally:
        server.stop()
    results["reference"] = reference(args)
    results["targets"] = report.targets(results)
    print()
    print(report.table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()

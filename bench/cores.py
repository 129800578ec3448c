"""`python -m bench.cores`: how much more work two processes get done than one, on this machine.

Scaling out assumes that a second server process gets a second core's worth of work done. On a virtual
machine whose two vCPUs share one physical core, it does not, and no balancer can change that. This runs
two fixed jobs, first in one process, then in two at once, in turn `--rounds` times, and prints the work
done per second and the ratio (2.0 for two real cores):
- `live`: the server's prediction work on replayed drawings (incremental rasterization, then the default
  model on each bitmap), in-process, no I/O;
- `python`: a pure-Python loop (integer additions).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

from bench.workers import ROOT, hear, tell

JOBS = ("live", "python")


def live_job() -> Callable[[], int]:
    """Return a step of the live job: render and classify the next replayed state; returns 1."""
    import numpy as np

    from bench.drawers import replay
    from harness.quickdraw import ANIMALS, drawings
    from realtime.config import Config
    from realtime.core.drawing import Drawing, render
    from realtime.model.recognizer import Recognizer

    limits = Config().limits
    model = Recognizer.from_name(Config().MODEL)
    states = []
    for word in ANIMALS:
        for record in drawings(word, "raw")[:4]:
            drawing = Drawing(limits)
            for step in replay(record["drawing"], 1.0)[0]:
                if step.event == "stroke_points":
                    drawing.add_points(step.points)
                    states.append(drawing.snapshot())
                elif step.event == "stroke_end":
                    drawing.end_stroke()
    position = 0

    def step() -> int:
        nonlocal position
        bitmap = render(states[position % len(states)])
        position += 1
        if bitmap is not None:
            model.predict(np.asarray(bitmap)[np.newaxis])
        return 1

    return step


def python_job() -> Callable[[], int]:
    """Return a step of the pure-Python job: 100,000 integer additions; returns 1."""

    def step() -> int:
        total = 0
        for i in range(100_000):
            total += i
        return 1

    return step


def work(job: str, seconds: float) -> float:
    """Set `job` up, say `ready`, wait for `go`, run it for `seconds`; return its steps per second."""
    step = live_job() if job == "live" else python_job()
    for _ in range(20):
        step()
    tell({"ready": True})
    if hear() != "go":
        raise SystemExit("no go")
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += step()
    return done / (time.perf_counter() - start)


def together(job: str, processes: int, seconds: float) -> float:
    """Run `job` in `processes` processes at once (timed together, once all are set up); sum their rates."""
    command = [sys.executable, "-m", "bench.cores", "--worker", job, "--seconds", str(seconds)]
    running = [
        subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(processes)
    ]
    for process in running:  # every one loaded and warm before any starts its clock
        assert process.stdout is not None
        if not process.stdout.readline():
            raise RuntimeError(f"bench.cores worker exited with {process.wait(10)}")
    for process in running:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    rates = []
    for process in running:
        out, _ = process.communicate(timeout=seconds + 120)
        if process.returncode != 0:
            raise RuntimeError(f"bench.cores worker failed with {process.returncode}")
        rates.append(json.loads(out.strip().splitlines()[-1])["per_s"])
    return sum(rates)


def main(argv: list[str] | None = None) -> None:
    """Measure one process against two, in turn, and print the ratios."""
    parser = argparse.ArgumentParser(prog="python -m bench.cores", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds per measurement (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="one-then-two rounds per job (default 3)")
    parser.add_argument("--worker", choices=JOBS, help=argparse.SUPPRESS)  # a child process's job
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps({"per_s": work(args.worker, args.seconds)}))
        return
    results = {}
    for job in JOBS:
        ratios = []
        for _ in range(args.rounds):
            one = together(job, 1, args.seconds)
            two = together(job, 2, args.seconds)
            ratios.append(two / one)
            print(
                f"{job}: 1 process {one:,.0f}/s, 2 processes {two:,.0f}/s in all: {two / one:.2f}×",
                flush=True,
            )
        results[job] = round(statistics.median(ratios), 2)
    print("two processes against one (median): " + ", ".join(f"{job} {r}×" for job, r in results.items()))


if __name__ == "__main__":
    main()

"""`python -m bench --capacity`: the most drawers one server process holds at the quality target.

Four measurements against one `python -m realtime` (bench.ramp has the target and the ramp):
- human: drawers at human speed, starting at random moments within half a second; steps, then bisected;
- together: the same, with every drawer starting within 50 ms, as a classroom round would;
- 10×: the most drawers held at human speed, ten times as fast: the server must stay correct (no errors,
  every update covered, every drawer still getting guesses, memory bounded), not within the latency target;
- the seed-style reference: one form POST of a canvas PNG per guess (bench.classic, one client), as
  guesses per core-second, against the live path's predictions per core-second at capacity.
"""

from __future__ import annotations

from typing import Any

from bench import ramp, report

STEPS = (25, 50, 75, 100, 125, 150, 175, 200, 250, 300)
QUICK_STEPS = (2, 4)
RESOLUTION = 5  # drawers: the bisection between the last step held and the first missed stops here
TOGETHER_S = 0.05  # every drawer starts within this many seconds


def per_drawer_second_ms(figures: dict[str, Any]) -> float | None:
    """Return the server's CPU milliseconds per drawer per second of the run."""
    seconds = figures["drawers"] * figures["send_s"]
    return round(figures["server_cpu_s"] * 1000.0 / seconds, 3) if seconds else None


def summary(
    human: list[dict[str, Any]],
    together: list[dict[str, Any]],
    fast: dict[str, Any],
    classic: dict[str, Any],
) -> dict[str, Any]:
    """Pool the runs into the figures the issue asks for."""
    best, best_together = ramp.best(human), ramp.best(together)
    ours = report.ratio(1000.0, best["server_cpu_ms_per_prediction"]) if best else None
    seed = report.ratio(1000.0, classic["server_cpu_ms_per_request"])
    return {
        "target": {"p99_ms": ramp.P99_MS, "min_guesses_per_s": ramp.MIN_GUESSES},
        "drawers_held": best["drawers"] if best else 0,
        "drawers_held_starting_together": best_together["drawers"] if best_together else 0,
        "at_capacity": _row(best) if best else None,
        "at_capacity_starting_together": _row(best_together) if best_together else None,
        "fast": _row(fast) | {"correct": _correct(fast)},
        "guesses_per_core_second": None if ours is None else round(ours, 1),
        "seed_style_guesses_per_core_second": None if seed is None else round(seed, 1),
        "ours_vs_seed_style": None if ours is None or not seed else round(ours / seed, 1),
    }


def _row(figures: dict[str, Any]) -> dict[str, Any]:
    """The figures of one run that the summary shows."""
    return {
        "drawers": figures["drawers"],
        "speed": figures["speed"],
        "p99_ms": figures["latency_ms"]["p99"],
        "slowest_guesses_per_s": figures["guesses_per_s_while_drawing"]["min"],
        "median_guesses_per_s": figures["guesses_per_s_while_drawing"]["median"],
        "updates_per_s": figures["updates_per_s"],
        "predictions_per_s": figures["predictions_per_s"],
        "server_cpu_share": figures["server_cpu_share"],
        "server_cpu_ms_per_drawer_second": per_drawer_second_ms(figures),
        "server_cpu_ms_per_prediction": figures["server_cpu_ms_per_prediction"],
        "load_generator_cpu_share": round(figures["load_generator_cpu_s"] / figures["wall_s"], 3),
        "server_peak_rss_mb": figures["server_peak_rss_mb"],
        "errors": figures["errors"],
    }


def _correct(fast: dict[str, Any]) -> bool:
    """Tell whether the 10× run stayed correct: clean, every update covered, every drawer guessed at."""
    slowest = fast["guesses_per_s_while_drawing"]["min"]
    return report.clean(fast) and slowest is not None and slowest > 0


def table(results: dict[str, Any]) -> str:
    """Format the capacity figures for the terminal."""
    lines = [
        f"drawers held by one server process at p99 ≤ {ramp.P99_MS:g} ms and ≥ {ramp.MIN_GUESSES:g} guesses/s"
        " each while drawing",
        "run        N speed spread s  p99 ms  min g/s  upd/s  pred/s  srv cpu  ms/drawer-s  ms/pred  gen cpu"
        "  held",
    ]
    for name in ("human", "together"):
        for row in results[name]:
            lines.append(_line(name, row, "yes" if row["met"] else "no"))
    fast = results["fast"]
    lines.append(_line("10x", fast, "correct" if results["summary"]["fast"]["correct"] else "NOT correct"))
    s = results["summary"]
    lines += [
        "",
        f"held: {s['drawers_held']} drawers (starting within 0.5 s), "
        f"{s['drawers_held_starting_together']} (all starting within {TOGETHER_S * 1000:g} ms)",
        f"guesses per core-second: live {s['guesses_per_core_second']}, seed-style form POST "
        f"{s['seed_style_guesses_per_core_second']} ({s['ours_vs_seed_style']}×)",
    ]
    return "\n".join(lines)


def _line(name: str, row: dict[str, Any], held: str) -> str:
    """One run as a table line."""
    spread = row.get("start_spread_s")
    return (
        f"{name:<8} {row['drawers']:>4} {row['speed']:>4g}× {spread if spread is not None else 0.5:>8g}"
        f" {_num(row['latency_ms']['p99']):>7} {_num(row['guesses_per_s_while_drawing']['min']):>8}"
        f" {row['updates_per_s']:>6.0f} {row['predictions_per_s']:>7.0f}"
        f" {row['server_cpu_share'] * 100:>7.1f}%"
        f" {_num(per_drawer_second_ms(row)):>12} {_num(row['server_cpu_ms_per_prediction']):>8}"
        f" {row['load_generator_cpu_s'] / row['wall_s'] * 100:>7.1f}%  {held}"
    )


def _num(value: float | None) -> str:
    """Format a figure that may be missing."""
    return "-" if value is None else f"{value:,.2f}"

"""The benchmark runs end to end (`python -m bench --quick`) and writes sane figures; no timing asserted."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import ramp
from bench.drawers import FRAME_S, SEND_INTERVAL_S, merged, replay
from bench.profile import summary
from harness.quickdraw import drawings, require_sample
from tests.conftest import ROOT


def run_module(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `python -m module args` in the repository; fail the test, with its output, unless it succeeds."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def test_replay_batches_points_per_frame_at_the_given_speed() -> None:
    """Send interval 0: a batch per 60 Hz frame, a stroke_end per stroke, a clear; 10× is 10× shorter."""
    drawing = drawings("cat", "raw")[0]["drawing"]
    steps, cycle = replay(drawing, 1.0, send_interval=0.0)
    fast, fast_cycle = replay(drawing, 10.0, send_interval=0.0)
    points = sum(len(s.points) for s in steps if s.event == "stroke_points")
    assert [s.event for s in steps].count("stroke_end") == len(drawing)
    assert steps[-1].event == "clear"
    assert 0 < points <= sum(len(stroke[0]) for stroke in drawing)
    assert sum(len(s.points) for s in fast if s.event == "stroke_points") == points
    assert all(b.at >= a.at for a, b in itertools.pairwise(steps))
    batches = [s.at for s in steps if s.event == "stroke_points"]
    assert len(set(batches)) == len(batches), "at most one batch per frame"
    assert all(abs(at / FRAME_S - round(at / FRAME_S)) < 1e-6 for at in batches)
    assert len([s for s in fast if s.event == "stroke_points"]) < len(batches)
    assert abs(steps[-2].at - drawing[-1][2][-1] / 1000.0) <= 2 * FRAME_S
    assert abs(fast_cycle - cycle / 10.0) <= 2 * FRAME_S


def test_replay_sends_at_most_one_batch_per_send_interval_as_the_page_does() -> None:
    """The page's default: batches at least SEND_INTERVAL_S apart within a stroke, the pen-up's at once."""
    for record in drawings("dog", "raw")[:5]:
        per_frame, _ = replay(record["drawing"], 1.0, send_interval=0.0)
        steps, _ = replay(record["drawing"], 1.0)
        sent = [s for s in steps if s.event == "stroke_points"]
        assert sum(len(s.points) for s in sent) == sum(len(s.points) for s in per_frame if s.points)
        assert len(sent) < len([s for s in per_frame if s.event == "stroke_points"])
        for a, b, after in zip(steps, steps[1:], steps[2:], strict=False):
            if a.event == b.event == "stroke_points" and after.event != "stroke_end":
                assert b.at - a.at >= SEND_INTERVAL_S - 1e-9


def test_profile_summary_charges_samples_to_the_server_code_they_serve(tmp_path: Path) -> None:
    """py-spy's raw stacks: library helpers count for their caller, each stack for one area once."""
    main = "GreenThread.main (eventlet/greenthread.py:272);LivePredictor._run (realtime/model/live.py:225)"
    raw = tmp_path / "profile.txt"
    raw.write_text(
        f"{main};predict_snapshots (realtime/model/live.py:98);"
        "Recognizer.predict (realtime/model/recognizer.py:78);"
        "Interpreter.invoke (ai_edge_litert/interpreter.py:941) 6\n"
        f"{main};render (realtime/core/drawing.py:270);_resample (realtime/core/preprocess.py:230);"
        "interp (numpy/lib/_function_base_impl.py:1600) 3\n"
        "BaseHub.run (eventlet/hubs/hub.py:365);Hub.wait (eventlet/hubs/poll.py:100) 1\n"
        "not a stack line\n"
    )
    found = summary(raw)
    assert found["samples"] == 10
    assert dict(found["areas"]) == {
        "inference (Recognizer, LiteRT)": 0.6,
        "rasterizer (realtime/core/preprocess.py)": 0.3,
        "event loop (eventlet hub, green threads)": 0.1,
    }
    assert found["self"][0] == ["Interpreter.invoke (interpreter.py)", 0.6]
    assert ["interp (_function_base_impl.py)", 0.3] in found["self"]


def test_merged_joins_point_batches_that_are_due_together() -> None:
    """A late frame sends its due point batches as one message, and keeps stroke_end and clear apart."""
    steps, _ = replay(drawings("fish", "raw")[0]["drawing"], 1.0)
    events = merged(steps)
    assert [e for e, _ in events].count("stroke_points") == len(drawings("fish", "raw")[0]["drawing"])
    assert sum(len(p.get("points", [])) for _, p in events) == sum(len(s.points or []) for s in steps)


@pytest.mark.slow
def test_quick_benchmark_writes_the_figures(tmp_path: Path) -> None:
    """`python -m bench --quick` measures every path against a real server and writes the JSON."""
    require_sample()  # the simulated drawers replay real drawings
    out = tmp_path / "results.json"
    done = run_module("bench", "--quick", "--json", str(out))
    assert "targets" in done.stdout
    results = json.loads(out.read_text())
    assert {"machine", "server", "startup", "live", "classic", "reference", "targets"} <= results.keys()
    assert results["machine"]["nproc"] >= 1
    assert 0 < results["startup"]["healthy_s_median"] < 60
    assert results["startup"]["idle_rss_mb"] > 10
    assert [(row["name"], row["speed"]) for row in results["live"]] == [
        ("human", 1.0),
        ("10x", 10.0),
        ("target", 1.0),
        ("target", 10.0),
    ]
    for row in results["live"]:
        assert row["drawers"] == (3 if row["name"] == "target" else 2)
        assert row["connect_failures"] == []
        assert row["updates"] > 0
        assert 0 < row["predictions"] <= row["updates"]
        assert row["uncovered"] == 0, "every update is covered by a prediction"
        assert row["errors"] == {}
        assert row["latency_ms"]["n"] == row["updates"]
        assert 0 < row["latency_ms"]["p50"] <= row["latency_ms"]["p99"] <= row["latency_ms"]["max"]
        assert 0 <= row["coalesced_share"] < 1
        assert row["server_cpu_s"] > 0 and row["server_cpu_ms_per_prediction"] > 0
        assert row["server_rss_mb"] > 10
    (post,) = results["classic"]
    assert post["requests"] > 0 and post["status"] == {"ok": post["requests"]}
    reference = results["reference"]
    assert reference["litert_single_us"]["median_us"] > 0
    assert reference["rasterize_real_drawing_us"]["median_us"] > 0
    assert reference["keras"] is None and reference["keras_skipped"]
    assert all({"target", "value", "limit", "met"} <= check.keys() for check in results["targets"])
    assert len(results["targets"]) == 10


@pytest.mark.slow
def test_quick_capacity_run_ramps_and_writes_the_figures(tmp_path: Path) -> None:
    """`python -m bench --capacity --quick` ramps drawers against a real server, as the full run does."""
    require_sample()
    out = tmp_path / "capacity.json"
    done = run_module("bench", "--capacity", "--quick", "--json", str(out))
    assert "drawers held by one server process" in done.stdout
    results = json.loads(out.read_text())
    for name in ("human", "together"):
        runs = results[name]
        assert [run["drawers"] for run in runs][:1] == [2]  # the ramp starts at the first step
        for run in runs:
            assert run["connect_failures"] == [] and run["uncovered"] == 0 and run["errors"] == {}
            assert run["met"] == (
                run["latency_ms"]["p99"] <= 50 and run["guesses_per_s_while_drawing"]["min"] >= 10
            )
    assert results["together"][0]["start_spread_s"] == 0.05
    summary = results["summary"]
    held = [run["drawers"] for run in results["human"] if run["met"]]
    assert summary["drawers_held"] == max(held, default=0)
    assert results["fast"]["speed"] == 10.0 and summary["fast"]["correct"] is True
    assert summary["fast"]["server_cpu_ms_per_drawer_second"] > 0
    assert summary["seed_style_guesses_per_core_second"] > 0 and summary["ours_vs_seed_style"] > 0


def test_the_ramp_steps_up_until_a_miss_then_bisects() -> None:
    """Steps until the first miss, then halves the gap between the last held and the first missed."""
    tried: list[int] = []

    def run(drawers: int) -> dict:
        tried.append(drawers)
        return {"drawers": drawers, "met": drawers <= 62}

    runs = ramp.ramp(run, (25, 50, 75, 100), resolution=5)
    assert tried == [25, 50, 75, 62, 68, 65]  # 75 missed; 62 held, 68 and 65 missed: 3 apart, done
    assert ramp.best(runs)["drawers"] == 62
    assert ramp.ramp(lambda n: {"drawers": n, "met": False}, (25, 50), 5)[0]["drawers"] == 25  # none held


@pytest.mark.slow
def test_cores_compares_one_process_with_two() -> None:
    """`python -m bench.cores` runs both jobs in one and then two processes and prints the ratios."""
    require_sample()
    done = run_module("bench.cores", "--seconds", "0.5", "--rounds", "1")
    lines = done.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == ["live", "python"]
    ratios = [float(r.rstrip("×")) for r in lines[-1].split(": ")[1].replace(",", "").split()[1::2]]
    # Figures, not a timing test: over half a second on a shared machine a neighbour can slow either run,
    # so only their form is checked (a ratio of 3.0 was seen while other tests ran beside it).
    assert len(ratios) == 2 and all(r > 0 for r in ratios)


def test_the_image_benchmark_times_every_case_by_stage(tmp_path: Path) -> None:
    require_sample()
    out = tmp_path / "images.json"
    done = run_module("bench.images", "--repeat", "1", "--json", str(out))
    figures = json.loads(out.read_text())
    assert len(figures) == 7 and any(name.startswith("page PNG") for name in figures)
    for name, f in figures.items():
        assert f["total_ms"] > 0 and f["decode_ms"] > 0 and f["place_ms"] > 0 and f["data_url_kib"] > 0, name
        assert name in done.stdout

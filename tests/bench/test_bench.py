"""The benchmark's own parts: the drawers' replay of real drawings, the profile summary, the capacity ramp.

The runs end to end (`python -m bench --quick` and the others) are in tests/process/test_bench_runs.py.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from bench import ramp
from bench.drawers import merged, replay
from bench.profile import summary
from harness.page import FRAME_S, SEND_INTERVAL_S
from harness.quickdraw import drawings


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

"""Reference costs, measured in a process of their own: LiteRT inference, the rasterizer, Keras predict.

`python -m bench.reference [--keras] [--quick]` prints one JSON line. Keras `model.predict` on one image is
what the original app ran per request; it needs the train requirements (TensorFlow), and is left out
(null, with the reason) when they are missing or not asked for.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from bench.classic import page_png_urls
from bench.drawers import replay
from bench.rasterize import per_call_us, reference_drawing
from harness.quickdraw import ANIMALS, drawings
from realtime.core import images, preprocess
from realtime.model.files import KERAS_FILE, MODELS_DIR
from realtime.model.recognizer import Recognizer

MODEL = "animals6"
BATCH_SIZES = (1, 2, 3, 4, 5, 8, 16, 64)


def real_strokes() -> list[list[np.ndarray]]:
    """Return every raw animal drawing as the server holds it: (N, 2) float64 arrays per stroke."""
    return [
        preprocess.strokes_from_quickdraw(record["drawing"])
        for word in ANIMALS
        for record in drawings(word, "raw")
    ]


def live_states(every: int) -> list[list[np.ndarray]]:
    """Return every `every`-th drawing state the live path rasterizes: the drawing after each point batch."""
    states = []
    for word in ANIMALS:
        for record in drawings(word, "raw"):
            strokes: list[np.ndarray] = []
            open_stroke = False
            for step in replay(record["drawing"], 1.0)[0]:
                if step.event == "stroke_points":
                    batch = np.asarray(step.points, np.float64)
                    if open_stroke:
                        strokes[-1] = np.concatenate((strokes[-1], batch))
                    else:
                        strokes.append(batch)
                    open_stroke = True
                    states.append(list(strokes))
                elif step.event == "stroke_end":
                    open_stroke = False
    return [state for state in states[::every] if np.ptp(np.concatenate(state), axis=0).max() > 0]


def litert_and_rasterizer(quick: bool) -> dict[str, Any]:
    """Time the serving runtime and the preprocessing, in microseconds per image."""
    scale = 10 if quick else 1
    model = Recognizer.from_name(MODEL)
    strokes = real_strokes()
    bitmaps = np.stack([preprocess.rasterize_strokes(s) for s in strokes[:64]])
    one = bitmaps[:1]
    url = page_png_urls()[0]
    big = reference_drawing()
    states = live_states(every=100 if quick else 10)
    return {
        "model": model.version,
        "litert_single_us": per_call_us(lambda: model.predict(one), number=200 // scale),
        "litert_batch64_per_image_us": {
            k: v / 64 for k, v in per_call_us(lambda: model.predict(bitmaps), number=20 // scale).items()
        },
        "litert_batch_us": {
            str(b): per_call_us(lambda b=b: model.predict(bitmaps[:b]), number=max(2, 200 // b // scale))[
                "median_us"
            ]
            for b in BATCH_SIZES
        },
        "rasterize_live_state_us": {
            k: v / len(states)
            for k, v in per_call_us(
                lambda: [preprocess.rasterize_strokes(s) for s in states], repeat=3, number=1
            ).items()
        },
        "live_states": len(states),
        "rasterize_real_drawing_us": {
            k: v / len(strokes)
            for k, v in per_call_us(
                lambda: [preprocess.rasterize_strokes(s) for s in strokes], repeat=5, number=1
            ).items()
        },
        "rasterize_20x500_us": per_call_us(lambda: preprocess.rasterize_strokes(big), number=100 // scale),
        "png_page_data_url_to_28x28_us": per_call_us(lambda: images.data_url_to_bitmap(url), number=20),
        "real_drawings": len(strokes),
        "points_per_real_drawing_mean": sum(len(p) for s in strokes for p in s) / len(strokes),
    }


def keras_predict(quick: bool) -> dict[str, Any]:
    """Time Keras `model.predict` and a direct model call on one image (wall and process CPU, ms per call)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    model = keras.models.load_model(MODELS_DIR / MODEL / KERAS_FILE)
    image = preprocess.rasterize_strokes(real_strokes()[0])[np.newaxis, :, :, np.newaxis]
    calls = 5 if quick else 40
    out: dict[str, Any] = {"keras": keras.__version__}
    for name, fn in {
        "predict": lambda: model.predict(image, verbose=0),
        "call": lambda: model(image, training=False),
    }.items():
        for _ in range(3):
            fn()
        runs = []
        cpu = time.process_time()
        for _ in range(calls):
            start = time.perf_counter()
            fn()
            runs.append((time.perf_counter() - start) * 1000.0)
        out[f"{name}_ms"] = {
            "median_ms": float(np.median(runs)),
            "best_ms": min(runs),
            "cpu_ms": (time.process_time() - cpu) * 1000.0 / calls,
        }
    return out


def main() -> None:
    """Print the reference costs as one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keras", action="store_true", help="also time Keras (needs TensorFlow)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    import cv2

    cv2.setNumThreads(1)
    result = litert_and_rasterizer(args.quick)
    result["keras"] = None
    result["keras_skipped"] = "not asked for (--keras)"
    if args.keras:
        try:
            result["keras"] = keras_predict(args.quick)
            result["keras_skipped"] = None
        except ImportError as exc:
            result["keras_skipped"] = f"TensorFlow/Keras not installed ({exc})"
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Run and time a .tflite model with ai-edge-litert, the serving runtime (no TensorFlow import)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

LATENCY_SETUP = "ai-edge-litert Interpreter, 1 image, 1 thread (as the server runs it)"


def load_interpreter(model: Path | bytes, num_threads: int | None = None) -> Interpreter:
    """Return an interpreter for a .tflite file or its bytes."""
    if isinstance(model, bytes):
        return Interpreter(model_content=model, num_threads=num_threads)
    return Interpreter(model_path=str(model), num_threads=num_threads)


def predict_tflite(
    model: Path | bytes | Interpreter, images: np.ndarray, batch_size: int = 256
) -> np.ndarray:
    """Return the model's probabilities for float32 images (N, 28, 28) in [0, 1]."""
    interpreter = model if isinstance(model, Interpreter) else load_interpreter(model)
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]
    outputs = []
    size = None
    for start in range(0, len(images), batch_size):
        batch = np.ascontiguousarray(images[start : start + batch_size, :, :, None], np.float32)
        if size != len(batch):
            interpreter.resize_tensor_input(source, list(batch.shape))
            interpreter.allocate_tensors()
            size = len(batch)
        interpreter.set_tensor(source, batch)
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(target).copy())
    return np.concatenate(outputs)


def single_image_latency_us(
    model: Path | bytes, repeats: int = 2000, warmup: int = 200, num_threads: int = 1
) -> dict[str, float]:
    """Time set-input → invoke → get-output for one 28×28 image; return median and p90 in microseconds."""
    interpreter = load_interpreter(model, num_threads)
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]
    interpreter.resize_tensor_input(source, [1, 28, 28, 1])
    interpreter.allocate_tensors()
    image = np.random.default_rng(0).random((1, 28, 28, 1), dtype=np.float32)
    timings = []
    for i in range(warmup + repeats):
        started = time.perf_counter()
        interpreter.set_tensor(source, image)
        interpreter.invoke()
        interpreter.get_tensor(target)
        if i >= warmup:
            timings.append(time.perf_counter() - started)
    return {
        "median_us": round(float(np.median(timings)) * 1e6, 1),
        "p90_us": round(float(np.percentile(timings, 90)) * 1e6, 1),
    }

"""Benchmark the image path (snapshot, classic form, API): data URL → 28×28, in milliseconds per image.

Run: `.venv/bin/python -m bench.images` (from the repo root). Real drawings, drawn as clients send them: the
page's Submit PNG, larger canvases in several looks, JPEG and WebP, and a dataset-sized 28×28. Each case is
timed whole and by stage (decode, ink, placing in the dataset's geometry), on one OpenCV thread.
`--json PATH` also writes the figures.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2

from bench.classic import PNG_BRUSH, PNG_MARGIN, PNG_SIDE
from harness.quickdraw import canvas_image, paired, raw_points
from realtime.core import images

DRAWINGS = 20
# name: (side, margin, brush, paper, ink, extension, encoder parameters)
CASES: dict[str, tuple[int, int, int, tuple[int, ...], tuple[int, ...], str, list[int]]] = {
    "page PNG (256 px, the Submit button's)": (
        PNG_SIDE,
        PNG_MARGIN,
        PNG_BRUSH,
        (255,) * 3,
        (0,) * 3,
        ".png",
        [],
    ),
    "512 px PNG, black on white": (512, 32, 8, (255,) * 3, (0,) * 3, ".png", []),
    "512 px PNG, dark theme": (512, 32, 8, (34, 30, 30), (235, 235, 230), ".png", []),
    "512 px PNG, transparent": (512, 32, 8, (0,) * 4, (40, 40, 40, 255), ".png", []),
    "1024 px JPEG": (1024, 64, 12, (255,) * 3, (0,) * 3, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, 85]),
    "1024 px WebP": (1024, 64, 12, (255,) * 3, (0,) * 3, ".webp", [cv2.IMWRITE_WEBP_QUALITY, 90]),
}


def data_urls(
    side: int, margin: int, brush: int, paper: tuple, ink: tuple, ext: str, params: list
) -> list[str]:
    """Draw the benchmark's drawings in one case's size, look and format, as data URLs."""
    urls = []
    for p in paired()[:DRAWINGS]:
        ok, data = cv2.imencode(ext, canvas_image(raw_points(p.raw), brush, side, margin, paper, ink), params)
        assert ok
        urls.append(f"data:image/{ext[1:]};base64," + base64.b64encode(data.tobytes()).decode("ascii"))
    return urls


def dataset_pngs() -> list[str]:
    """Google's own 28×28 bitmaps of the drawings, as PNG data URLs (white on black, as the dataset)."""
    return [images.bitmap_to_png_data_url(p.bitmap) for p in paired()[:DRAWINGS]]


def per_image_ms(fn: Callable[[Any], object], inputs: list[Any], repeat: int) -> float:
    """Return the median over `repeat` passes of the mean time per input, in milliseconds."""
    for item in inputs[:3]:
        fn(item)
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        for item in inputs:
            fn(item)
        runs.append((time.perf_counter() - start) / len(inputs) * 1e3)
    return statistics.median(runs)


def measure(urls: list[str], repeat: int) -> dict[str, float]:
    """Time the whole path and each stage on the same images."""
    decoded = [images.decode_data_url(u) for u in urls]
    inks = [images.ink_of(d) for d in decoded]
    return {
        "total_ms": per_image_ms(images.data_url_to_bitmap, urls, repeat),
        "decode_ms": per_image_ms(images.decode_data_url, urls, repeat),
        "ink_ms": per_image_ms(images.ink_of, decoded, repeat),
        "place_ms": per_image_ms(images.image_to_bitmap, inks, repeat),
        "data_url_kib": statistics.mean(len(u) for u in urls) / 1024,
    }


def main() -> None:
    """Print the image path's costs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="passes over the drawings per figure")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    cases = {name: data_urls(*spec) for name, spec in CASES.items()}
    cases["28×28 PNG (a dataset bitmap)"] = dataset_pngs()
    results = {name: measure(urls, args.repeat) for name, urls in cases.items()}
    print(f"{'case':42s} {'total ms':>9s} {'decode':>7s} {'ink':>7s} {'place':>7s} {'KiB':>6s}")
    for name, r in results.items():
        print(
            f"{name:42s} {r['total_ms']:9.2f} {r['decode_ms']:7.2f} {r['ink_ms']:7.2f} {r['place_ms']:7.2f}"
            f" {r['data_url_kib']:6.1f}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

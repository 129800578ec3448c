"""The classic path's load: form POSTs of canvas PNG data URLs to /predict, as the original app got a guess.

The benchmark runs this as its own process (`python -m bench.classic --url URL --concurrency C --duration D`):
C threads, each with its own keep-alive HTTP session, post real drawings drawn as the page's Submit button
draws them (the drawing's long side 224 px, a 16 px margin, a 4 px brush) one after another.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import Counter
from typing import Any

import psutil
import requests

from bench.workers import hear, tell
from harness.quickdraw import ANIMALS, canvas_png_data_url, drawings, raw_points

PNG_SIDE = 224 + 2 * 16  # the page's submitted PNG (static/sketch.js): drawing side plus margins
PNG_MARGIN = 16
PNG_BRUSH = 4
DRAWINGS_PER_CLASS = 4
MAX_REQUESTS = 100_000


def page_png_urls() -> list[str]:
    """Return data URLs of real drawings, drawn as the page's Submit button draws them."""
    return [
        canvas_png_data_url(raw_points(record["drawing"]), brush=PNG_BRUSH, side=PNG_SIDE, margin=PNG_MARGIN)
        for word in ANIMALS
        for record in drawings(word, "raw")[:DRAWINGS_PER_CLASS]
    ]


def poster(
    url: str, images: list[str], first: int, stop_at: float, latency_ms: list[float], status: Counter[str]
) -> None:
    """Post one drawing after another until `stop_at`; note each request's latency and outcome."""
    with requests.Session() as http:
        for n in range(first, first + MAX_REQUESTS):
            if time.perf_counter() >= stop_at:
                break
            start = time.perf_counter()
            try:
                answer = http.post(url + "/predict", data={"url": images[n % len(images)]}, timeout=30)
            except requests.RequestException as exc:
                status[type(exc).__name__] += 1
                continue
            latency_ms.append(round((time.perf_counter() - start) * 1000.0, 3))
            ok = answer.status_code == 200 and 'id="result-label"' in answer.text
            status["ok" if ok else f"http_{answer.status_code}"] += 1


def main() -> None:
    """Run one classic-path load-generator process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the server, http://127.0.0.1:PORT")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--duration", type=float, required=True, help="seconds of posting")
    args = parser.parse_args()
    if not args.url.startswith("http://127.0.0.1:"):
        parser.error("the benchmark only talks to 127.0.0.1")
    images = page_png_urls()
    tell({"ready": args.concurrency, "png_kb_mean": sum(map(len, images)) / len(images) / 1024})
    if hear() != "go":
        return
    me = psutil.Process()
    cpu = me.cpu_times()
    latency_ms: list[float] = []
    status: Counter[str] = Counter()
    start = time.perf_counter()
    threads = [
        threading.Thread(
            target=poster,
            args=(args.url, images, i * 7, start + args.duration, latency_ms, status),
            daemon=True,
        )
        for i in range(args.concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(args.duration + 60)
    duration = time.perf_counter() - start
    used = me.cpu_times()
    result: dict[str, Any] = {
        "concurrency": args.concurrency,
        "requests": sum(status.values()),
        "status": dict(status),
        "latency_ms": latency_ms,
        "send_s": duration,
        "cpu_s": (used.user + used.system) - (cpu.user + cpu.system),
    }
    tell(result)
    hear()


if __name__ == "__main__":
    main()

"""A client that floods a server with `stroke_points` as fast as it takes them, run as its own process.

`python -m tests.support.flooder WS_URL SECONDS` floods for SECONDS and prints what it sent and heard as JSON.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from typing import Any

import websocket


def flood(ws_url: str, seconds: float) -> dict[str, Any]:
    """Send `stroke_points` updates as fast as the connection takes them; return what was sent and heard."""
    ws = websocket.create_connection(ws_url, timeout=10)
    ws.recv()  # Engine.IO open
    ws.send("40")
    heard: Counter[str] = Counter()

    def listen() -> None:
        try:
            while True:
                frame = ws.recv()
                if frame == "2":
                    ws.send("3")
                elif isinstance(frame, str) and frame.startswith("42"):
                    name, *args = json.loads(frame[2:])
                    heard[name if name != "error" else f"error:{args[0]['code']}"] += 1
        except (websocket.WebSocketException, OSError):
            pass

    threading.Thread(target=listen, daemon=True).start()
    sent = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            ws.sock.settimeout(max(0.01, deadline - time.monotonic()))  # the server may push back
            x, y = sent % 997, sent * 7 % 991
            ws.send(f'42["stroke_points",{{"seq":{sent + 1},"points":[[{x},{y}],[{y},{x}]]}}]')
            sent += 1
    except websocket.WebSocketTimeoutException:
        pass  # held back until the end: TCP's buffers are full and the server is not reading
    time.sleep(0.5)  # the last answers
    ws.close()
    return {"sent": sent, "heard": dict(heard)}


def main() -> None:
    """Run the flooder: print what it sent and heard as JSON."""
    print(json.dumps(flood(sys.argv[1], float(sys.argv[2]))))


if __name__ == "__main__":
    main()

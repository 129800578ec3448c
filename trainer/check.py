"""A model folder's check file: a fixed drawing and what the model answers for it.

`python -m trainer.check models/NAME` writes `models/NAME/check.json`; the trainer writes it for every
model it makes. A server verifies a folder against it before serving it in place of another (hot reload,
`POST /admin/reload`): the same answer means the weights, the labels and their order belong together and
run as they did when the folder was made. The drawing is synthetic (a spiral with a tail), so no dataset
drawing is copied into the repository; whether the answer is right does not matter, only that it repeats.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from realtime.core import preprocess
from realtime.model.files import CHECK_FILE
from realtime.model.ranking import ranked
from realtime.model.recognizer import Recognizer

TOP = 3


def check_drawing() -> list[list[list[float]]]:
    """Return the check drawing in Quick, Draw! form: a spiral and a straight tail."""
    turns = [(200 + t * 3 * math.cos(t / 4), 200 + t * 3 * math.sin(t / 4)) for t in range(0, 60)]
    spiral = [[round(x, 1) for x, _ in turns], [round(y, 1) for _, y in turns]]
    tail = [[380.0, 460.0, 520.0], [200.0, 260.0, 230.0]]
    return [spiral, tail]


def write_check(model_dir: Path) -> dict[str, Any]:
    """Write `check.json` for a model folder: the drawing and the model's top answers for it."""
    recognizer = Recognizer(model_dir)
    drawing = check_drawing()
    probabilities = recognizer.predict(preprocess.rasterize_quickdraw(drawing)[None])[0]
    check = {"drawing": drawing, "top": ranked(recognizer.labels, probabilities, TOP)}
    (model_dir / CHECK_FILE).write_text(json.dumps(check) + "\n", encoding="utf-8")
    return check


def main(argv: list[str] | None = None) -> None:
    """Write the check file of each model folder named on the command line."""
    parser = argparse.ArgumentParser(prog="python -m trainer.check", description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+", help="model folders, e.g. models/animals6")
    for folder in parser.parse_args(argv).folders:
        check = write_check(folder)
        print(f"{folder / CHECK_FILE}: {check['top'][0]['label']} at {check['top'][0]['p']:.4f}")


if __name__ == "__main__":
    main()

"""The embedding: a unit vector per drawing from the classifier's own network, in the same .tflite call.

`python -m trainer.embedding models/doodles23` leaves the classifier as it is (its answers, calibration and
live figures stand) and gives its model a second output, `embedding`: the network's convolutional features
(its flattened last stage, the input of its dense layers), centred on their mean over the folder's training
split and normalised to length 1. Both outputs come from one interpreter call. The server ranks words taught
from a few drawings by the similarity of a drawing's embedding to theirs (realtime.model.taught).

Why these features, measured by `python -m trainer.fewshot_eval` on words the network never saw: they tell
unseen words apart far better than the last hidden layer, which the classifier shaped for its own words
(bicycle, clock, guitar, house and tree through animals6, taught from 5 drawings: 90 % against 80 %); a
projection trained on them with a metric-learning loss (normalised softmax over one proxy per trained word)
did worse again than either, as it learns the trained words' differences (its row in the card's levers).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers

from realtime.model.files import KERAS_FILE, TFLITE_FILE
from realtime.model.litert import EMBEDDING, PROBABILITIES
from trainer.data import DataError

CENTRE = "embedding_centre"


def chain(model: keras.Model) -> list[layers.Layer]:
    """Return the classifier's layers in order (a model with an embedding: without its own layers)."""
    found = [
        layer
        for layer in model.layers
        if not isinstance(layer, layers.InputLayer) and layer.name not in (CENTRE, EMBEDDING)
    ]
    if not found or any(isinstance(layer, keras.Model) for layer in found):
        raise DataError(f"{model.name}: an embedding needs one network, not an ensemble")
    if not any(isinstance(layer, layers.Flatten) for layer in found):
        raise DataError(f"{model.name}: an embedding needs a Flatten layer after the convolutions")
    return found


def feature_index(found: Sequence[layers.Layer], layer: str = "flatten") -> int:
    """Return the position of the layer whose output is read: the last Flatten, or the last hidden Dense."""
    if layer == "hidden":
        dense = [i for i, one in enumerate(found) if isinstance(one, layers.Dense)]
        if len(dense) < 2:
            raise DataError("the network has no hidden dense layer")
        return dense[-2]
    return [i for i, one in enumerate(found) if isinstance(one, layers.Flatten)][-1]


def feature_model(model: keras.Model, layer: str = "flatten") -> keras.Model:
    """Return the network up to the layer it reads (`flatten`: the embedding's; `hidden`: the last dense)."""
    found = chain(model)
    x = inputs = keras.Input(shape=model.input_shape[1:])
    for one in found[: feature_index(found, layer) + 1]:
        x = one(x)
    return keras.Model(inputs, x)


def features(
    model: keras.Model, images: np.ndarray, layer: str = "flatten", mirrored: bool = False
) -> np.ndarray:
    """Return the features of (N, 28, 28) images at `layer` (mirrored left-right if asked)."""
    batch = images[:, :, ::-1] if mirrored else images
    return feature_model(model, layer).predict(batch[..., None], batch_size=1024, verbose=0)


def with_embedding(model: keras.Model, centre: np.ndarray) -> keras.Model:
    """Return the classifier with a second output: its flattened features less `centre`, normalised."""
    found = chain(model)
    read = feature_index(found)
    x = inputs = keras.Input(shape=model.input_shape[1:])
    for k, layer in enumerate(found):
        x = layer(x)
        if k == read:
            centred = layers.Normalization(mean=centre, variance=np.ones(len(centre)), name=CENTRE)(x)
            embedded = layers.UnitNormalization(name=EMBEDDING)(centred)
    return keras.Model(inputs, {PROBABILITIES: x, EMBEDDING: embedded}, name=model.name)


def training_images(folder: Path) -> np.ndarray:
    """Return the images of a model folder's training split (the classifier's own, before augmentation)."""
    from trainer.live_eval import model_split

    dataset, train, _ = model_split(folder)
    return dataset.images[train]


def embed_folder(folder: Path) -> dict[str, Any]:
    """Give a model folder's model the embedding output and export it; return what metrics.json records."""
    from trainer.export import export_model
    from trainer.live_eval import model_split

    model = keras.saving.load_model(folder / KERAS_FILE, safe_mode=True)
    images = training_images(folder)
    centre = np.concatenate([features(model, images), features(model, images, mirrored=True)]).mean(axis=0)
    dataset, _, test = model_split(folder)
    sample = dataset.images[test][:: max(1, len(test) // 512)][:512]
    export = export_model(with_embedding(model, centre), folder, sample)
    return {
        "size": len(centre),
        "reads": f"the flattened convolutional features ({len(centre)} values), centred, normalised",
        "centred_on": f"their mean over the {len(images):,} training images and their mirror images",
        "export": export,
        "command": f"python -m trainer.embedding {folder.as_posix()}",
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Give model folders an embedding output; record it in each folder's metrics.json."""
    from trainer.live_eval import read_metrics
    from trainer.pipeline import write_outputs

    parser = argparse.ArgumentParser(prog="python -m trainer.embedding", description=__doc__.splitlines()[0])
    parser.add_argument("folders", type=Path, nargs="+", help="model folders written by the trainer")
    args = parser.parse_args(argv)
    for folder in args.folders:
        try:
            report = embed_folder(folder)
            metrics = read_metrics(folder)
        except (DataError, OSError, ValueError) as exc:
            print(f"error: {folder}: {exc}", file=sys.stderr)
            return 1
        metrics["embedding"] = report
        write_outputs(metrics, folder)
        print(json.dumps(report, indent=1))
        print(
            f"{folder / TFLITE_FILE}: probabilities and a {report['size']}-value embedding", file=sys.stderr
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

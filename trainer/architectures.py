"""Model architectures: the original app's `seed` CNN, the small fast CNN and the wider default."""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers

from realtime.core.preprocess import SIDE

INPUT_SHAPE = (SIDE, SIDE, 1)
ENSEMBLE = "ensemble"  # the name of a model that is the mean of several networks


def build_seed(n_classes: int) -> keras.Model:
    """Build the original app's CNN: conv30 → pool → conv15 → pool → dropout → dense128 → softmax."""
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            layers.Conv2D(30, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(15, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Dropout(0.2),
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name="seed",
    )


def _conv_bn(filters: int) -> list[layers.Layer]:
    """Return a 3×3 same-padded convolution with batch norm and ReLU (folded into one op by the converter)."""
    return [
        layers.Conv2D(filters, 3, padding="same", use_bias=False),
        layers.BatchNormalization(momentum=0.9),  # settles within an epoch: early val_loss is meaningful
        layers.ReLU(),
    ]


def _stages(name: str, n_classes: int, first: int, middle: int, last: int) -> keras.Model:
    """Build conv-BN-ReLU stages of `first`, `middle`+`middle`, `last` filters, each pooled; dense 128."""
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            *_conv_bn(first),
            layers.MaxPooling2D(2),
            *_conv_bn(middle),
            *_conv_bn(middle),
            layers.MaxPooling2D(2),
            *_conv_bn(last),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.3),
            layers.Dense(128, activation="relu"),
            layers.Dropout(0.3),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name=name,
    )


def build_small(n_classes: int) -> keras.Model:
    """Build the small CNN: stages of 16, 32+32 and 64 filters (≈108k parameters)."""
    # Channel counts stay multiples of 16: LiteRT's CPU kernels run such layers far faster (24 or 48 channels
    # cost as much time as 32 or 64), which keeps one image well under 100 µs.
    return _stages("small", n_classes, 16, 32, 64)


def build_wide(n_classes: int) -> keras.Model:
    """Build the wide CNN (the trainer's default): stages of 32, 64+64 and 128 filters (≈280k parameters)."""
    # Four times the small CNN's work: 8-bit weights (python -m trainer.quantize) run it in about 100 µs.
    return _stages("wide", n_classes, 32, 64, 128)


def build_tiny(n_classes: int) -> keras.Model:
    """Build a very small CNN for quick tests (one conv, one dense)."""
    return keras.Sequential(
        [
            keras.Input(shape=INPUT_SHAPE),
            layers.Conv2D(4, 3, strides=2, activation="relu"),
            layers.Flatten(),
            layers.Dense(n_classes, activation="softmax"),
        ],
        name="tiny",
    )


ARCHITECTURES: dict[str, Callable[[int], keras.Model]] = {
    "wide": build_wide,
    "small": build_small,
    "seed": build_seed,
    "tiny": build_tiny,
}


def build_model(arch: str, n_classes: int) -> keras.Model:
    """Build the named architecture with `n_classes` softmax outputs."""
    try:
        builder = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose from {', '.join(ARCHITECTURES)}") from None
    return builder(n_classes)


def ensemble(nets: list[keras.Model]) -> keras.Model:
    """Return one model whose output is the mean of the networks' softmax outputs (one input, one graph)."""
    for k, net in enumerate(nets):
        net.name = f"{net.name}_{k}"  # layer names must be unique within the model
    inputs = keras.Input(shape=INPUT_SHAPE)
    return keras.Model(inputs, layers.Average()([net(inputs) for net in nets]), name=ENSEMBLE)


def members(model: keras.Model) -> list[keras.Model]:
    """Return an ensemble's networks (a model made by `ensemble`), or a single network as a list of one."""
    if model.name != ENSEMBLE:
        return [model]
    return [layer for layer in model.layers if isinstance(layer, keras.Model)]


def describe(model: keras.Model) -> str:
    """Return a one-line, top-to-bottom description of a model's layers (an ensemble's: of one network)."""
    nets = members(model)
    if len(nets) > 1:
        return f"the mean of {len(nets)} networks trained from different seeds, each: {describe(nets[0])}"
    parts = []
    for layer in model.layers:
        config = layer.get_config()
        if isinstance(layer, layers.SeparableConv2D):
            size = "×".join(map(str, config["kernel_size"]))
            parts.append(f"separable conv {config['filters']} {size}")
        elif isinstance(layer, layers.Conv2D):
            size = "×".join(map(str, config["kernel_size"]))
            stride = f" stride {config['strides'][0]}" if config["strides"][0] != 1 else ""
            parts.append(f"conv {config['filters']} {size}{stride}")
        elif isinstance(layer, layers.MaxPooling2D):
            parts.append(f"maxpool {config['pool_size'][0]}")
        elif isinstance(layer, layers.Dense):
            parts.append(f"dense {config['units']} {config['activation']}")
        elif isinstance(layer, layers.Dropout):
            parts.append(f"dropout {config['rate']}")
        else:
            name = type(layer).__name__
            parts.append({"BatchNormalization": "batch norm", "ReLU": "ReLU"}.get(name, name.lower()))
        if isinstance(layer, layers.Conv2D) and config.get("activation") not in (None, "linear"):
            parts[-1] += f" {config['activation']}"
    return " → ".join(parts)

"""A model folder's file names, in one place: what the trainer writes and the server reads."""

from __future__ import annotations

from pathlib import Path

# Models are only ever loaded from this folder of the repository (see Recognizer.from_name).
MODELS_DIR = Path(__file__).resolve().parents[2] / "models"

TFLITE_FILE = "model.tflite"  # what the server runs
LABELS_FILE = "labels.json"  # the outputs' names, in order
# How sure the model is, written by the trainer: its "something else" output and its threshold. A folder
# without it (an older model) has no such output and is sure at the recognizer's default threshold.
CALIBRATION_FILE = "calibration.json"
CHECK_FILE = "check.json"  # a drawing and what this model answers for it (written by python -m trainer.check)
KERAS_FILE = "model.keras"  # the trainer's own copy, for quantizing and choosing a threshold again
METRICS_FILE = "metrics.json"  # the run's figures and configuration
CARD_FILE = "README.md"  # the model card
CONFUSION_FILE = "confusion.png"  # the confusion matrix the card shows

"""Train Quick, Draw! doodle classifiers and export them as model folders (`python -m trainer`)."""

import os

# TensorFlow's C++ start-up chatter would bury the training progress; set before anything imports it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

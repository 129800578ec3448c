"""When the model is sure of a drawing in progress: one class, confident, held over the last few messages.

A model is *confident* of a state when its top output is one of its classes at its threshold or above. A
drawing that grows passes through states that look like something else for a moment (half a dog is a fine
camel), so the live path says *sure* only once the same class has been confident for `steady` messages in a
row: at message `seq` when it has been confident of that class at every prediction since message
`seq - steady + 1` or earlier. When the server coalesces messages (it predicts the newest state only), the
messages it skipped count as held; any prediction of another class, or of none, starts the count again.
A finished drawing judged on its own (`/api/predict`, a submit), or one replaced whole on the live
connection (`sync` after a reconnect, a snapshot image), is sure when it is confident.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SureRule:
    """A model's rule of being sure: its threshold, and for how many messages a class must hold."""

    threshold: float
    steady: int = 1
    other: int | None = None  # the "something else" output, never a class to be sure of

    def confident(self, probabilities: np.ndarray) -> int | None:
        """Return the class the model is confident of in one state, or None."""
        return confident_of(probabilities, self.threshold, self.other)


def confident_of(probabilities: np.ndarray, threshold: float, other: int | None) -> int | None:
    """Return the top output when it is a class (not `other`) at `threshold` or above, else None."""
    top = int(np.argmax(probabilities))
    if top == other or float(probabilities[top]) < threshold:
        return None
    return top


@dataclass
class Streak:
    """One drawing's run of predictions confident of one class: which class, since which message."""

    label: Hashable = None
    since: int = 0

    def sure(self, steady: int, seq: int, label: Hashable, whole: bool = False) -> bool:
        """Record that the prediction of message `seq` is confident of `label` (None: of no class).

        Return whether the model is now sure: confident of that class since message `seq - steady + 1`.
        A drawing replaced `whole` (not grown) is judged as a finished one: sure when confident, and held
        from then on.
        """
        if label is None or label != self.label:
            self.label, self.since = label, (seq - steady + 1 if whole else seq)
        return label is not None and seq - self.since + 1 >= steady

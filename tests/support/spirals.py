"""Spirals drawn as a person would: a word no model here was trained on, for the tests of taught words.

A spiral drawn from the middle out looks like a spiral at every size, so a drawing in progress comes to look
like the finished ones it was taught from well before the pen lifts: the shipped model is sure of a taught
spiral for the last fifth or so of one drawn at a person's pace.
"""

from __future__ import annotations

import math

WORD = "Spiral"


def spiral(phase: float = 0.0, turns: float = 3.0, points: int = 120, ms: float = 3000.0) -> list:
    """Return a raw Quick, Draw! drawing of a spiral from the middle out, `ms` long, on the page's canvas."""
    xs, ys, ts = [], [], []
    for i in range(points):
        done = i / (points - 1)
        angle = phase + 2 * math.pi * turns * done
        radius = 10 + 300 * done
        xs.append(round(500 + radius * math.cos(angle), 1))
        ys.append(round(500 + radius * math.sin(angle), 1))
        ts.append(round(ms * done))
    return [[xs, ys, ts]]


def examples(count: int) -> list[list]:
    """Return `count` spirals turned each a little further: the examples a host teaches."""
    return [spiral(phase=1.3 * n) for n in range(count)]

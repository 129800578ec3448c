"""Taught words as the live path uses them: each word's examples, and books of words ranked together.

A `TaughtWord` keeps its examples as the model sees them (the server's own 28×28 renders), their strokes (to
export them as Quick, Draw! drawings) and their embeddings by the model being served; from MIN_EXAMPLES on
it has a prototype and takes part in predictions. A `WordBook` is an immutable set of ready words: the live
path ranks a drawing against the book of its connection (the deployment's words, its room's or its own).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from realtime.core.errors import InputError
from realtime.core.text import clean_text
from realtime.model.ranking import Model, ranked
from realtime.model.sureness import confident_of
from realtime.model.taught import prototype, scores

MAX_WORD = 24  # characters of a taught word, as of a player's name
MIN_EXAMPLES = 5  # a word is recognised once it has this many examples
MAX_EXAMPLES = 20  # examples kept per word
_books = itertools.count(1)


def clean_word(value: Any, model: Model) -> str:
    """Return a word as typed, cleaned like a player's name; refuse one the model already knows."""
    word = clean_text(value, MAX_WORD, "bad_word", "a word")
    if word.casefold() in {label.casefold() for label in model.labels}:
        raise InputError("word_taken", f"{word!r} is one of the words the model was trained on")
    return word


def can_learn(model: Model) -> None:
    """Refuse teaching when the model has no embedding calibrated for taught words."""
    if not model.embedding_size or model.taught is None:
        raise InputError("cannot_teach", f"the model {model.name} cannot learn words (it has no embedding)")


@dataclass(frozen=True)
class TaughtWord:
    """One taught word: its examples (28×28 bitmaps, their strokes) and their embeddings by `model`."""

    name: str
    bitmaps: tuple[np.ndarray, ...]
    strokes: tuple[Any, ...]  # each example's drawing in Quick, Draw! raw form ([] for an image)
    embedded: np.ndarray  # (examples, size), by the model whose version is `model`
    model: str

    @property
    def ready(self) -> bool:
        """Tell whether the word has enough examples to be recognised."""
        return len(self.bitmaps) >= MIN_EXAMPLES

    def with_example(self, bitmap: np.ndarray, strokes: Any, embedded: np.ndarray) -> TaughtWord:
        """Return the word with one example more; refuse more than MAX_EXAMPLES."""
        if len(self.bitmaps) >= MAX_EXAMPLES:
            raise InputError("too_many_examples", f"a word keeps at most {MAX_EXAMPLES} examples")
        return TaughtWord(
            self.name,
            (*self.bitmaps, bitmap),
            (*self.strokes, strokes),
            np.concatenate([self.embedded, embedded[None]]),
            self.model,
        )

    def summary(self) -> dict[str, Any]:
        """Return what a client is told of the word."""
        return {"word": self.name, "examples": len(self.bitmaps), "ready": self.ready}


def first_example(
    name: str, bitmap: np.ndarray, strokes: Any, embedded: np.ndarray, model: str
) -> TaughtWord:
    """Return a word with its first example."""
    return TaughtWord(name, (bitmap,), (strokes,), embedded[None], model)


def embed_again(word: TaughtWord, model: Model) -> TaughtWord:
    """Return the word's examples embedded by another model (after a hot reload)."""
    _, embedded = model.infer(np.stack(word.bitmaps))
    if embedded is None:
        raise ValueError(f"{model.name} has no embedding")
    return TaughtWord(word.name, word.bitmaps, word.strokes, embedded, model.version)


@dataclass(frozen=True)
class WordBook:
    """Ready words, in the order they are ranked after the model's own outputs; `key` changes with them."""

    names: tuple[str, ...] = ()
    prototypes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    key: tuple[int, ...] = ()  # (): the empty book

    @classmethod
    def of(cls, words: Iterable[TaughtWord], model: Model) -> WordBook:
        """Return the book of the ready words embedded by `model` (the first of each name, casefolded)."""
        names, protos, seen = [], [], set()
        for word in words:
            folded = word.name.casefold()
            if not word.ready or word.model != model.version or folded in seen:
                continue
            try:
                found = prototype(word.embedded)
            except ValueError:
                continue  # one broken word never breaks the others
            seen.add(folded)
            names.append(word.name)
            protos.append(found)
        if not names:
            return EMPTY
        return cls(tuple(names), np.stack(protos), (next(_books),))

    def plus(self, other: WordBook) -> WordBook:
        """Return this book with `other`'s words after its own (a name both have: this book's)."""
        if not other.names:
            return self
        if not self.names:
            return other
        mine = {name.casefold() for name in self.names}
        kept = [i for i, name in enumerate(other.names) if name.casefold() not in mine]
        return WordBook(
            (*self.names, *(other.names[i] for i in kept)),
            np.concatenate([self.prototypes, other.prototypes[kept]]),
            self.key + other.key,
        )

    def __len__(self) -> int:
        """Return the number of words."""
        return len(self.names)


EMPTY = WordBook()


def taught_guesses(
    model: Model, probabilities: np.ndarray, embedded: np.ndarray, book: WordBook, k: int | None = None
) -> list[tuple[list[dict[str, Any]], bool]]:
    """Return what a person is told for each drawing of a batch when taught words are ranked with the
    model's: the guesses, and whether it is sure.

    A taught word on top is sure only when the drawing is also close enough to it (`min_similarity`).
    """
    calibration = model.taught
    assert calibration is not None and len(book)
    combined = scores(probabilities, embedded, book.prototypes, calibration)
    labels = [*model.labels, *book.names]
    n = len(model.labels)
    out = []
    for row, point in zip(combined, embedded, strict=True):
        top = confident_of(row, model.sure_threshold, model.other)
        if (
            top is not None
            and top >= n
            and float(point @ book.prototypes[top - n]) < calibration.min_similarity
        ):
            top = None
        out.append((ranked(labels, row, k, model.other), top is not None))
    return out

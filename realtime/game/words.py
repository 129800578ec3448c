"""A room's taught words: chosen by its host, kept beside the game, ranked in its players' predictions.

The host chooses a room's round words (`room_words`) from the model's own words, the words taught on the
host's connection (realtime.model.teacher) and the room's taught words already. The game keeps the names
(`Game.taught`) and a revision (`Game.taught_rev`); each taught word's examples go to an entry of their own in
the room store (realtime.game.rooms), written in the same transaction as the game, expiring and deleted with
it: the game's document is rewritten on every change and stays small. An example is kept as the model saw it
(28×28 bytes, base64) with its strokes, so each process embeds it with the model it serves (`RoomBooks`).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from realtime.core.errors import InputError
from realtime.core.text import MAX_TYPED
from realtime.model.ranking import Model
from realtime.model.words import EMPTY, MAX_WORD, TaughtWord, WordBook

log = logging.getLogger(__name__)

MAX_ROOM_WORDS = 10  # taught words one room keeps
MAX_PROMPTS = 64  # words a host may choose in all
# An example's strokes are kept (as JSON) up to this size; a longer drawing keeps its bitmap only, which is
# all the model needs: a room's entry stays within about 3 MiB (10 words × 20 examples).
MAX_STROKES_BYTES = 16_384
SIDE = 28

Entry = dict[str, Any]  # {"word": name, "examples": [{"bitmap": base64 of 28×28 bytes, "strokes": raw}]}


def parse_choice(value: Any) -> list[str]:
    """Return the words a host chose: a list of 1 to MAX_PROMPTS texts; refuse anything else."""
    if not isinstance(value, list) or not all(isinstance(v, str) and len(v) <= MAX_TYPED for v in value):
        raise InputError("bad_payload", "words is a list of words")
    if not value:
        raise InputError("no_words", "choose at least one word")
    if len(value) > MAX_PROMPTS:
        raise InputError("too_many_words", f"a room draws from {MAX_PROMPTS} words at most")
    return value


def choose(
    names: list[str], trained: list[str], own: Mapping[str, TaughtWord], room: list[Entry]
) -> tuple[list[str], list[Entry]]:
    """Return the prompts a host chose and the taught words' entries among them, in the order chosen.

    A name is one of the model's words (`trained`), one of the host connection's ready words (`own`, by
    casefolded name: the Teacher's), or one of the room's (`room`); the host's own word wins over the room's
    of the same name (it was just taught again). The same word twice counts once.
    """
    known = {label.casefold(): label for label in trained}
    kept = {str(entry.get("word", "")).casefold(): entry for entry in room}
    labels: list[str] = []
    entries: list[Entry] = []
    seen: set[str] = set()
    for name in names:
        folded = name.strip().casefold()
        if folded in seen:
            continue
        seen.add(folded)
        if folded in known:
            labels.append(known[folded])
            continue
        word = own.get(folded)
        if word is not None and word.ready:
            entry = entry_of(word)
        elif folded in kept:
            entry = kept[folded]
        else:
            shown = name[:MAX_WORD]
            raise InputError("unknown_word", f"{shown!r} is neither the model's word nor a ready taught word")
        labels.append(entry["word"])
        entries.append(entry)
    if len(entries) > MAX_ROOM_WORDS:
        raise InputError("too_many_words", f"a room keeps {MAX_ROOM_WORDS} taught words at most")
    return labels, entries


def entry_of(word: TaughtWord) -> Entry:
    """Return a taught word as the room store keeps it: its name, each example's bitmap and strokes."""
    examples = []
    for bitmap, strokes in zip(word.bitmaps, word.strokes, strict=True):
        pixels = np.rint(np.asarray(bitmap, np.float32) * 255).astype(np.uint8)
        drawn = strokes if len(json.dumps(strokes, separators=(",", ":"))) <= MAX_STROKES_BYTES else []
        examples.append({"bitmap": base64.b64encode(pixels.tobytes()).decode("ascii"), "strokes": drawn})
    return {"word": word.name, "examples": examples}


def word_of(entry: Entry, model: Model) -> TaughtWord:
    """Return a kept word with its examples embedded by `model`; ValueError when the entry is damaged."""
    examples = entry["examples"]
    if not isinstance(examples, list) or not examples:
        raise ValueError("a taught word without examples")
    bitmaps = tuple(_pixels(example["bitmap"]) for example in examples)
    _, embedded = model.infer(np.stack(bitmaps))
    if embedded is None:
        raise ValueError(f"{model.name} has no embedding")
    strokes = tuple(example.get("strokes", []) for example in examples)
    return TaughtWord(str(entry["word"]), bitmaps, strokes, embedded, model.version)


def _pixels(text: Any) -> np.ndarray:
    """Return an example's bitmap (0–1, as the rasterizer makes it) from its base64 bytes."""
    raw = base64.b64decode(text, validate=True)
    if len(raw) != SIDE * SIDE:
        raise ValueError(f"a bitmap of {len(raw)} bytes, not {SIDE * SIDE}")
    return np.frombuffer(raw, np.uint8).reshape(SIDE, SIDE).astype(np.float32) / 255.0


def book_of(entries: list[Entry], model: Model) -> WordBook:
    """Return the book of a room's words embedded by `model` (empty for a model that cannot learn words).

    A damaged word is left out; the others still count.
    """
    if not entries or not model.embedding_size or model.taught is None:
        return EMPTY
    words = []
    for entry in entries:
        try:
            words.append(word_of(entry, model))
        except (ValueError, KeyError, TypeError, binascii.Error):
            log.exception("a room's taught word %r cannot be used", entry.get("word"))
    return WordBook.of(words, model)


def dump(revision: int, entries: list[Entry]) -> str:
    """Return a room's words as the store keeps them: with the revision of the game that chose them."""
    return json.dumps({"revision": revision, "words": entries}, separators=(",", ":"))


def load(text: str | bytes | None) -> tuple[int, list[Entry]]:
    """Read back what `dump` wrote: (revision, entries); (0, []) for none."""
    if text is None:
        return 0, []
    data = json.loads(text)
    return int(data["revision"]), list(data["words"])


class RoomBooks:
    """This process's books of its rooms' taught words: each read and embedded once per revision and model."""

    def __init__(self, read: Callable[[str], tuple[int, list[Entry]]]) -> None:
        self.read = read  # the store's `words`
        self._books: dict[str, tuple[int, str, WordBook]] = {}  # code -> (revision, model version, book)

    def get(self, code: str, revision: int, model: Model) -> tuple[int, WordBook]:
        """Return a room's words at `revision` or later, embedded by `model`, and the revision they are."""
        cached = self._books.get(code)
        if cached is not None and cached[0] >= revision and cached[1] == model.version:
            return cached[0], cached[2]
        found, entries = self.read(code)
        book = book_of(entries, model)
        self._books[code] = (found, model.version, book)
        return found, book

    def forget(self, code: str) -> None:
        """Forget a room this process no longer seats anyone of."""
        self._books.pop(code, None)

"""Teaching words: each connection's own words, and the deployment's, which every connection is ranked with.

A connection teaches a word one example at a time (`teach_example`: the drawing it has on its canvas, as the
server's rasterizer sees it); from MIN_EXAMPLES examples on the word is part of its predictions, at once. It
may forget a word, and, where the deployment keeps taught words (a `WordKeeper`: the database, shared by
every process through Redis), give it to everyone (`teach_keep`). After a hot reload every word is embedded
again by the new model. Caps: words per connection, words per deployment, examples per word, examples per
second; each refusal is an InputError with a documented code (docs/protocol.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from realtime.core import images
from realtime.core.errors import InputError
from realtime.infra.ratelimit import TokenBucket
from realtime.model.live import LivePredictor, Session
from realtime.model.ranking import Model
from realtime.model.words import (
    EMPTY,
    MIN_EXAMPLES,
    TaughtWord,
    WordBook,
    can_learn,
    clean_word,
    embed_again,
    first_example,
)

log = logging.getLogger(__name__)

MAX_OWN_WORDS = 10  # words one connection may teach itself
TEACH_RATE, TEACH_BURST = 1.0, 5  # examples per second per connection, and in a burst


class WordKeeper(Protocol):
    """Where the deployment's words are kept and shared (realtime.collect.words with the server's Redis)."""

    def load(self) -> list[dict[str, Any]]:
        """Return every kept word: `{word, examples: [{bitmap: (28, 28) uint8, strokes}]}`."""
        ...

    def keep(self, word: str, examples: list[dict[str, Any]]) -> None:
        """Keep a word (replacing one of that name) and tell every process."""
        ...

    def forget(self, word: str) -> bool:
        """Delete a kept word and tell every process; False when there was none."""
        ...


class Teacher:
    """Holds every connection's taught words and the deployment's, and keeps the live path's books current."""

    def __init__(
        self,
        live: LivePredictor,
        keeper: WordKeeper | None = None,
        max_words: int = 100,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.live = live
        self.keeper = keeper  # None: taught words stay with the connection that taught them
        self.max_words = max_words  # the deployment's
        self.clock = clock
        self.own: dict[str, dict[str, TaughtWord]] = {}  # sid -> casefolded word -> word
        self.kept: dict[str, TaughtWord] = {}  # the deployment's, casefolded word -> word
        self._buckets: dict[str, TokenBucket] = {}

    # The connection's own words

    def example(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Teach `payload.word` the connection's drawing as one more example; return the `taught` reply."""
        session = self._session(sid)
        model = self.live.model
        can_learn(model)
        name = clean_word(payload.get("word"), model)
        words = self.own.setdefault(sid, {})
        if name.casefold() not in words and len(words) >= MAX_OWN_WORDS:
            raise InputError("too_many_words", f"a connection teaches at most {MAX_OWN_WORDS} words")
        if name.casefold() in self.kept and name.casefold() not in words:
            raise InputError("word_taken", f"{name!r} is already one of this server's taught words")
        with self.live.lock:
            bitmap = session.drawing.bitmap()
            strokes = session.drawing.raw()
        if bitmap is None:
            raise InputError("blank_example", "draw the word before teaching it")
        bucket = self._buckets.setdefault(sid, TokenBucket(TEACH_RATE, TEACH_BURST, self.clock))
        if not bucket.take():
            raise InputError("teaching_too_fast", f"at most {TEACH_RATE:g} example a second")
        _, embedded = model.infer(bitmap[np.newaxis])
        assert embedded is not None  # can_learn
        word = words.get(name.casefold())
        if word is None or word.model != model.version:
            word = first_example(name, bitmap, strokes, embedded[0], model.version)
        else:
            word = word.with_example(bitmap, strokes, embedded[0])
        words[name.casefold()] = word
        self._own_changed(sid, session)
        return {**word.summary(), "needed": MIN_EXAMPLES, "bitmap": images.bitmap_to_png_data_url(bitmap)}

    def forget(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Forget one of the connection's own words; return the `words` reply."""
        session = self._session(sid)
        words = self.own.get(sid, {})
        name = payload.get("word")
        if not isinstance(name, str) or words.pop(name.casefold(), None) is None:
            raise InputError("unknown_word", "the connection has taught no such word")
        self._own_changed(sid, session)
        return self.listing(sid)

    def words_of(self, sid: str) -> dict[str, TaughtWord]:
        """Return the connection's own words, by casefolded name (a room's host chooses among them)."""
        return self.own.get(sid, {})

    def listing(self, sid: str) -> dict[str, Any]:
        """Return the `words` event: the connection's own words, the deployment's, and the rules."""
        return {
            "words": [word.summary() for word in self.own.get(sid, {}).values()],
            "kept": sorted(word.name for word in self.kept.values()),
            "can_keep": self.keeper is not None,
            "min_examples": MIN_EXAMPLES,
        }

    def closed(self, sid: str) -> None:
        """Forget a closed connection's words."""
        self.own.pop(sid, None)
        self._buckets.pop(sid, None)

    def _session(self, sid: str) -> Session:
        session = self.live.get(sid)
        if session is None:
            raise InputError("not_connected", "the connection is closing")
        return session

    def _own_changed(self, sid: str, session: Session) -> None:
        """Rank the connection's drawing with its words as they are now."""
        book = WordBook.of(self.own.get(sid, {}).values(), self.live.model)
        self.live.set_session_book(session, book)

    # The deployment's words

    def keep(self, sid: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Give one of the connection's ready words to everyone (where the deployment keeps words)."""
        if self.keeper is None:
            raise InputError("cannot_keep", "this server keeps no taught words (no ADMIN_TOKEN)")
        name = payload.get("word")
        word = self.own.get(sid, {}).get(name.casefold()) if isinstance(name, str) else None
        if word is None or not word.ready:
            raise InputError("unknown_word", f"teach the word {MIN_EXAMPLES} examples first")
        if word.name.casefold() not in self.kept and len(self.kept) >= self.max_words:
            raise InputError("too_many_words", f"this server keeps at most {self.max_words} taught words")
        examples = [
            {"bitmap": np.rint(b * 255).astype(np.uint8), "strokes": s}
            for b, s in zip(word.bitmaps, word.strokes, strict=True)
        ]
        self.keeper.keep(word.name, examples)  # every process (this one too) then reloads it
        self.own[sid].pop(word.name.casefold())
        self.reload([word.name])
        self._own_changed(sid, self._session(sid))
        return self.listing(sid)

    def reload(self, names: list[str] | None = None) -> None:
        """Read the deployment's words again (all, or those named) and rank them from now on."""
        if self.keeper is None:
            return
        model = self.live.model
        if not model.embedding_size or model.taught is None:
            self.kept = {}
            self.live.set_book(EMPTY)
            return
        stored = self.keeper.load()
        wanted = None if names is None else {name.casefold() for name in names}
        found = {}
        for entry in stored:
            folded = entry["word"].casefold()
            if wanted is not None and folded not in wanted and folded in self.kept:
                found[folded] = self.kept[folded]
                continue
            try:
                found[folded] = self._word(entry, model)
            except (ValueError, KeyError, TypeError):
                log.exception("taught word %r cannot be used", entry.get("word"))
        self.kept = found
        book = WordBook.of(found.values(), model)
        self.live.set_book(book)
        if names is None:
            log.info("ranking %d taught words kept by the deployment", len(book))

    def switched(self, model: Model) -> None:
        """Embed every taught word again with the model now served (after a hot reload)."""
        fresh = model.embedding_size and model.taught is not None
        for sid, words in self.own.items():
            for key, word in list(words.items()):
                words[key] = embed_again(word, model) if fresh else word
            session = self.live.get(sid)
            if session is not None:
                self._own_changed(sid, session)
        self.reload()

    @staticmethod
    def _word(entry: dict[str, Any], model: Model) -> TaughtWord:
        """Return a kept word's examples embedded by `model`."""
        bitmaps = tuple(
            np.asarray(e["bitmap"], np.float32).reshape(28, 28) / 255.0 for e in entry["examples"]
        )
        if not bitmaps:
            raise ValueError("a kept word without examples")
        _, embedded = model.infer(np.stack(bitmaps))
        if embedded is None:
            raise ValueError("the model has no embedding")
        strokes = tuple(e.get("strokes", []) for e in entry["examples"])
        return TaughtWord(entry["word"], bitmaps, strokes, embedded, model.version)

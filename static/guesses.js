// What the page says back: the top guess in words, the top three with probability bars, the class hint
// and the 28×28 image the model saw (the game's pages have no hint, timing or image: they are optional).

const SHOWN = 3;

/** "a camel", "an octopus". */
export function withArticle(label) {
  return (/^[aeiou]/i.test(label) ? "an " : "a ") + label;
}

/** A list of labels as prose: "cat, dog and fish". */
function listLabels(labels) {
  if (labels.length < 2) return labels.join("");
  return `${labels.slice(0, -1).join(", ")} or ${labels[labels.length - 1]}`;
}

export class GuessView {
  constructor(root) {
    this.guess = root.querySelector("#guess");
    this.list = root.querySelector("#top");
    this.hint = root.querySelector("#hint");
    this.timing = root.querySelector("#timing");
    this.bitmap = root.querySelector("#bitmap");
    this.bitmapEmpty = root.querySelector("#bitmap-empty");
    this.rows = [...this.list.querySelectorAll("li")];
  }

  /** Show a prediction: {top: [{label, p}, ...], sure, ms, bitmap?}. */
  show(prediction) {
    const top = prediction.top || [];
    if (top.length === 0) {
      this.reset(); // a blank drawing or a single dot: nothing to guess from yet
      this.#say(["Keep drawing…"]);
      return;
    }
    const best = top[0];
    if (prediction.sure) {
      // The server decides: one of its classes at its threshold, held for its steady messages (protocol.md).
      this.#say(["I see… ", withArticle(best.label)]);
    } else {
      this.#say(["Not sure yet…"]);
    }
    this.rows.forEach((row, i) => {
      const entry = top[i];
      row.hidden = !entry;
      if (!entry) return;
      row.dataset.label = entry.label;
      row.querySelector(".label").textContent = entry.label;
      row.querySelector("meter").value = entry.p;
      row.querySelector(".pct").textContent = `${Math.round(entry.p * 100)}%`;
    });
    this.list.hidden = false;
    if (this.timing && typeof prediction.ms === "number") {
      this.timing.textContent = `Guessed in ${Math.max(1, Math.round(prediction.ms))} ms`;
    }
    if (prediction.bitmap) this.showBitmap(prediction.bitmap);
  }

  /** Back to the empty state: nothing drawn, nothing guessed. */
  reset() {
    this.#say(["Draw something!"]);
    this.list.hidden = true;
    for (const row of this.rows) row.hidden = true;
    if (this.timing) this.timing.textContent = "";
    this.showBitmap(null);
  }

  /** Show which classes the model knows: "Try: cat, dog, …". */
  setLabels(labels) {
    if (this.hint && labels && labels.length) this.hint.textContent = `Try: ${listLabels(labels)}.`;
  }

  /** Show the 28×28 image the model saw (a PNG data URL), or the placeholder for none. */
  showBitmap(url) {
    if (!this.bitmap) return;
    this.bitmap.hidden = !url;
    this.bitmapEmpty.hidden = Boolean(url);
    if (url) this.bitmap.src = url;
    else this.bitmap.removeAttribute("src");
  }

  /** Change the spoken/visible guess only when its words change, so screen readers are not flooded. */
  #say([lead, label]) {
    const text = lead + (label || "");
    if (this.guess.textContent === text) return;
    this.guess.replaceChildren(lead);
    if (label) {
      const strong = document.createElement("strong");
      strong.textContent = label;
      this.guess.append(strong);
    }
  }
}

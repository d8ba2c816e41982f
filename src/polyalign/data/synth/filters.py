"""Quality filters for machine translations; each dropped translation is counted under one reason.

Checked in this order (the first that fails counts):

``empty``            output empty or whitespace only
``identical``        output equals the source (case and whitespace ignored): nothing was translated
``length_ratio``     (len(out) + 5) / (len(src) + 5) outside [1/r, r] (characters; +5 keeps very
                     short sentences from tripping it)
``repeated_ngram``   some word n-gram occurs ``max_ngram_repeats`` times or more in the output but
                     not in the source: degenerate generation ("the the the the ...")
``copied``           more than ``max_copy_ratio`` of the output's words (of 2+ letters) are source
                     words kept as they were: mostly untranslated (optional)
``similarity``       cosine between source and output below ``min_sim`` with an encoder (optional)
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass

REASONS = ("empty", "identical", "length_ratio", "repeated_ngram", "copied", "similarity")


@dataclass
class FilterConfig:
    max_length_ratio: float | None = 3.0
    ngram: int = 3
    max_ngram_repeats: int | None = 4
    max_copy_ratio: float | None = None
    min_sim: float | None = None  # needs an encoder

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _norm(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def max_ngram_count(text: str, n: int) -> int:
    words = text.casefold().split()
    if len(words) < n:
        return 0
    counts = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return max(counts.values())


def copy_ratio(source: str, output: str) -> float:
    """Share of the output's words (2+ letters, punctuation stripped) found verbatim in the source."""

    def words(text):
        out = []
        for w in text.split():
            w = w.strip(".,;:!?\"'()[]{}«»“”‘’-—–…")
            if sum(ch.isalpha() for ch in w) >= 2:
                out.append(w)
        return out

    out_words = words(output)
    if not out_words:
        return 0.0
    src = set(words(source))
    return sum(w in src for w in out_words) / len(out_words)


def check(source: str, output: str | None, cfg: FilterConfig) -> str | None:
    """The reason ``output`` is rejected, or None when it passes the text-only filters."""
    if output is None or not output.strip():
        return "empty"
    if _norm(output) == _norm(source):
        return "identical"
    if cfg.max_length_ratio:
        r = (len(output) + 5) / (len(source) + 5)
        if r > cfg.max_length_ratio or r < 1 / cfg.max_length_ratio:
            return "length_ratio"
    if cfg.max_ngram_repeats:
        k = max_ngram_count(output, cfg.ngram)
        if k >= cfg.max_ngram_repeats and k > max_ngram_count(source, cfg.ngram):
            return "repeated_ngram"
    if cfg.max_copy_ratio is not None and copy_ratio(source, output) > cfg.max_copy_ratio:
        return "copied"
    return None


def apply_filters(
    sources: list[str],
    outputs: list[str | None],
    cfg: FilterConfig,
    encoder=None,
    batch_size: int = 64,
    source_embeddings=None,
) -> tuple[list[str | None], Counter]:
    """Filtered outputs (None where dropped) and per-reason counts (all reasons present, 0 or more).
    ``source_embeddings`` (from :func:`encode`) saves re-encoding the sources for every language."""
    counts = Counter({r: 0 for r in REASONS})
    kept: list[str | None] = []
    for src, out in zip(sources, outputs):
        reason = check(src, out, cfg)
        if reason:
            counts[reason] += 1
            kept.append(None)
        else:
            kept.append(out)
    if cfg.min_sim is not None and encoder is not None:
        idx = [i for i, t in enumerate(kept) if t is not None]
        if idx:
            if source_embeddings is None:
                a = encode(encoder, [sources[i] for i in idx], batch_size)
            else:
                a = source_embeddings[idx]
            b = encode(encoder, [kept[i] for i in idx], batch_size)
            for i, s in zip(idx, (a * b).sum(axis=1).tolist()):
                if s < cfg.min_sim:
                    kept[i] = None
                    counts["similarity"] += 1
    return kept, counts


def encode(encoder, texts: list[str], batch_size: int = 64):
    """L2-normalised embeddings as a float32 numpy array."""
    import numpy as np

    e = np.asarray(
        encoder.encode(texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False),
        dtype=np.float32,
    )
    return e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)

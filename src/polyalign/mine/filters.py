"""Cheap text checks for mining; each removal is counted under one reason in the output's metadata.

Sentences (before encoding, per language):

``empty``            blank after stripping
``duplicate``        the same text (Unicode NFC, whitespace collapsed) earlier in the file
``script``           fewer than ``min_script_share`` of its letters are in the language's expected
                     script (:func:`polyalign.langs.expected_script`; the script of a letter is the
                     first word of its Unicode name: LATIN, CYRILLIC, CJK...). Letters of scripts
                     not in :data:`SCRIPT_WORDS` and text without letters are not judged.

Mined pairs (after thresholding), in this order:

``identical``        both sides equal after case folding and whitespace collapsing (copied text,
                     untranslated names and numbers)
``length_ratio``     (len(a) + 5) / (len(b) + 5) outside [1/r, r] (characters, as in
                     :mod:`polyalign.data.synth.filters`)

Groups: ``near_duplicate`` — two groups whose pivot sentences have the same letters once case,
digits, punctuation and spaces are removed ("I saw 3 cats." / "I saw 4 cats!"): only the
higher-scoring one is kept (duplicates in one batch would be false negatives in training).
"""

from __future__ import annotations

import functools
import unicodedata

from .defaults import (
    DEFAULT_MAX_LENGTH_RATIO as DEFAULT_MAX_LENGTH_RATIO,  # re-exported
)

DEFAULT_MIN_SCRIPT_SHARE = 0.5

# ISO 15924 code -> the first words of the Unicode character names of its letters.
SCRIPT_WORDS = {
    "Latn": {"LATIN"},
    "Cyrl": {"CYRILLIC"},
    "Arab": {"ARABIC"},
    "Deva": {"DEVANAGARI"},
    "Beng": {"BENGALI"},
    "Hani": {"CJK"},
    "Hans": {"CJK"},
    "Hant": {"CJK"},
    "Jpan": {"CJK", "HIRAGANA", "KATAKANA"},
    "Kore": {"HANGUL", "CJK"},
    "Hang": {"HANGUL"},
    "Thai": {"THAI"},
    "Grek": {"GREEK"},
    "Hebr": {"HEBREW"},
    "Ethi": {"ETHIOPIC"},
    "Khmr": {"KHMER"},
    "Geor": {"GEORGIAN"},
    "Armn": {"ARMENIAN"},
    "Taml": {"TAMIL"},
    "Telu": {"TELUGU"},
    "Knda": {"KANNADA"},
    "Mlym": {"MALAYALAM"},
    "Gujr": {"GUJARATI"},
    "Guru": {"GURMUKHI"},
    "Orya": {"ORIYA"},
    "Sinh": {"SINHALA"},
    "Mymr": {"MYANMAR"},
    "Laoo": {"LAO"},
    "Tibt": {"TIBETAN"},
    "Thaa": {"THAANA"},
    "Tfng": {"TIFINAGH"},
    "Nkoo": {"NKO"},
}
_KNOWN_WORDS = set().union(*SCRIPT_WORDS.values())


def norm(text: str) -> str:
    """The duplicate key: NFC, whitespace collapsed (as :func:`polyalign.data.groups._norm`)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def near_duplicate_key(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFC", text).casefold() if ch.isalpha())


@functools.lru_cache(maxsize=65536)
def _script_word(ch: str) -> str | None:
    name = unicodedata.name(ch, "")
    word = name.split(" ", 1)[0]
    return word if word in _KNOWN_WORDS else None


def script_share(text: str, script: str) -> float | None:
    """Share of the judged letters of ``text`` in ``script``; None when there is none to judge."""
    words = SCRIPT_WORDS.get(script)
    if words is None:
        return None
    judged = hits = 0
    for ch in text:
        if ch.isalpha():
            w = _script_word(ch)
            if w is not None:
                judged += 1
                hits += w in words
    return hits / judged if judged else None


def wrong_script(text: str, script: str | None, min_share: float = DEFAULT_MIN_SCRIPT_SHARE) -> bool:
    if script is None:
        return False
    share = script_share(text, script)
    return share is not None and share < min_share


def pair_reason(pivot_text: str, text: str, max_length_ratio: float | None) -> str | None:
    """Why a mined pair is dropped (``identical``, ``length_ratio``), or None."""
    if fold(pivot_text) == fold(text):
        return "identical"
    if max_length_ratio:
        r = (len(text) + 5) / (len(pivot_text) + 5)
        if r > max_length_ratio or r < 1 / max_length_ratio:
            return "length_ratio"
    return None

"""The machine-translation backend interface shared by every synth backend.

A backend translates English sentences into one target language at a time::

    class Translator(Protocol):
        name: str                      # "apertium", "hf", ...
        model_id: str                  # what produced the text: model/pair name + content fingerprint
        options: dict                  # settings that change the output (beam size, mode...)
        default_batch_size: int
        def supported_targets(self) -> list[str]: ...          # the backend's own codes
        def translate(self, texts: list[str], tgt: str) -> list[str]: ...

``translate`` takes a code from ``supported_targets()`` and returns one output per input, in order.
Backends may also define ``resolve_target(lang)`` to map a user's code (``es``, ``spa``,
``spa_Latn``) onto theirs with a better error than the default lookup.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from ...errors import ConfigError, UnknownLanguageError
from ..readers import resolve_code


@runtime_checkable
class Translator(Protocol):
    name: str
    model_id: str
    options: dict
    default_batch_size: int

    def supported_targets(self) -> list[str]: ...

    def translate(self, texts: list[str], tgt: str) -> list[str]: ...


def resolve_target(translator: Translator, lang: str) -> str:
    """A user's language code → the backend's code, or an error listing the supported ones."""
    custom = getattr(translator, "resolve_target", None)
    if callable(custom):
        return custom(lang)
    return resolve_code(lang, translator.supported_targets(), where=f"{translator.name} backend")


class MultiTranslator:
    """One backend per target language (e.g. one MarianMT model per pair) behind one interface."""

    name = "multi"

    def __init__(self, by_lang: dict[str, Translator]):
        if not by_lang:
            raise ConfigError("no translators given")
        self.by_lang = dict(by_lang)
        first = next(iter(self.by_lang.values()))
        self.name = first.name
        self.default_batch_size = first.default_batch_size
        self.model_id = ";".join(f"{lang}={t.model_id}" for lang, t in self.by_lang.items())
        self.options = {}

    def supported_targets(self) -> list[str]:
        return list(self.by_lang)

    def resolve_target(self, lang: str) -> str:
        return resolve_code(lang, list(self.by_lang), where=f"{self.name} models")

    def translator_for(self, tgt: str) -> Translator:
        if tgt not in self.by_lang:
            raise UnknownLanguageError(tgt, list(self.by_lang), f"{self.name} models")
        return self.by_lang[tgt]

    def model_id_for(self, tgt: str) -> str:
        t = self.translator_for(tgt)
        code = resolve_target(t, tgt)
        inner = t.model_id_for(code) if callable(getattr(t, "model_id_for", None)) else t.model_id
        return f"{inner}|{json.dumps(t.options, sort_keys=True)}"

    def translate(self, texts: list[str], tgt: str) -> list[str]:
        t = self.translator_for(tgt)
        return t.translate(texts, resolve_target(t, tgt))

    def close(self) -> None:
        for t in self.by_lang.values():
            close = getattr(t, "close", None)
            if callable(close):
                close()


def fingerprint_files(paths: list[str | os.PathLike], head_bytes: int = 1 << 16) -> str:
    """A short content fingerprint, independent of where the files live: name, size, and the first
    ``head_bytes`` of each file (whole file when small). Changes when a model or dictionary is updated."""
    h = hashlib.sha256()
    for p in sorted(Path(p) for p in paths):
        if not p.is_file():
            continue
        h.update(p.name.encode() + b"\0" + str(p.stat().st_size).encode() + b"\0")
        with open(p, "rb") as f:
            h.update(f.read(head_bytes))
    return h.hexdigest()[:16]


def fingerprint_dir(path: str | os.PathLike) -> str:
    path = Path(path)
    files = [
        p
        for p in path.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
    ]
    return fingerprint_files(files)

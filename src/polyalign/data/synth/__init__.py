"""Synthetic multi-way corpora: machine-translate English sentences into several languages.

    from polyalign.data.synth import ApertiumTranslator, TranslationCache, build_synthetic_corpus, read_file
    from polyalign.data.build import save_corpus

    with ApertiumTranslator() as mt:
        corpus, meta = build_synthetic_corpus(read_file("en.txt"), mt, ["es", "ca", "gl"],
                                              cache=TranslationCache("~/.cache/polyalign/mt"))
    save_corpus(corpus, "corpus_synth", meta)

Backends implement :class:`Translator` (``name``, ``model_id``, ``options``, ``default_batch_size``,
``supported_targets()``, ``translate(texts, tgt)``): :class:`ApertiumTranslator` (rule-based, Debian
packages, offline) and :class:`HFTranslator` (transformers seq2seq: NLLB, M2M100, Marian, MADLAD).
Heavy modules are imported on first use.
"""

from __future__ import annotations

from ..._lazy import lazy_getattr

_EXPORTS = {
    "Translator": "base",
    "MultiTranslator": "base",
    "resolve_target": "base",
    "ApertiumTranslator": "apertium",
    "apertium_available": "apertium",
    "english_targets": "apertium",
    "HFTranslator": "hf",
    "detect_scheme": "hf",
    "TranslationCache": "cache",
    "cache_key": "cache",
    "default_cache_dir": "cache",
    "FilterConfig": "filters",
    "apply_filters": "filters",
    "read_file": "sources",
    "read_hf": "sources",
    "read_groups": "sources",
    "clean_sources": "sources",
    "translate_cached": "pipeline",
    "synthesize": "pipeline",
    "build_synthetic_corpus": "pipeline",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)

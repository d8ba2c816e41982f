"""Mining multi-way training groups from monolingual text (``polyalign mine``).

Public API (imported lazily, so ``import polyalign.mine`` stays cheap)::

    from polyalign.mine import mine_files, MineConfig
    result = mine_files("me5-small-q4", ("eng", "en.txt"), [("deu", "de.txt")], out="mined/")

Modules: :mod:`.score` (k-NN, LASER's ratio margin, strategies, thresholds — also used by the
``bucc`` evaluation), :mod:`.embed` (float16 memory-mapped embedding shards, resumable),
:mod:`.filters` (text checks: script, length ratio, identical, near-duplicates), :mod:`.groups`
(multi-way groups joined through the pivot), :mod:`.pipeline` (files in, outputs out),
:mod:`.cli` (the command).
"""

from __future__ import annotations

from .._lazy import lazy_getattr

_EXPORTS = {
    "MineConfig": "pipeline",
    "MineResult": "pipeline",
    "mine_files": "pipeline",
    "mine_texts": "pipeline",
    "write_outputs": "pipeline",
    "DEFAULT_THRESHOLD": "pipeline",
    "ShardedEmbeddings": "embed",
    "embed_sentences": "embed",
    "knn": "score",
    "mine": "score",
    "neighbours": "score",
    "mine_neighbours": "score",
    "best_threshold": "score",
    "f1_at_threshold": "score",
    "MinedPair": "score",
    "APPROX_ABOVE": "score",
    "STRATEGIES": "score",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)

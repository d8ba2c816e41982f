"""Bitext retrieval and mining: Tatoeba accuracy, FLORES xsim, BUCC-style mining F1.

All functions take embeddings (numpy arrays or torch tensors, one row per sentence) and
L2-normalise them, so dot products are cosines.

* :func:`retrieval_accuracy` — Tatoeba protocol (LASER/XTREME): each source sentence retrieves its
  nearest target by cosine; accuracy x100 of retrieving the aligned one (row i <-> row i).
* :func:`xsim_error_rate` — LASER's xsim (``source/xsim.py``, checked against figures from LASER's
  own code in ``tests/test_xsim_laser.py``): each source's candidates are its k = 4 cosine-nearest
  targets, scored by the *ratio margin* cos(x, y) / (mean_k cos(x, NN_k(x)) / 2 +
  mean_k cos(y, NN_k(y)) / 2) (NN_k(x) among the targets, NN_k(y) among the sources); the error
  rate x100 counts sources whose best candidate is not the aligned target, or, given the target
  texts (LASER's ``eval_text``), whose best candidate's text differs from the aligned one's (a
  duplicate of the reference sentence is no error). Margins ``distance`` (cos - denominator) and
  ``absolute`` (plain nearest neighbour) as in LASER. :func:`xsim_all_candidates_errors` keeps the
  non-LASER variant that takes the margin's argmax over all targets.
* BUCC: :func:`bucc_evaluate` mines the dev split, chooses the score threshold maximising F1 there
  and applies it to the test split, as XTREME's and LASER's BUCC code does (checked against figures
  from their own code in ``tests/test_bucc_reference.py``; candidates: :func:`bucc_candidates`).
  Mining (k-NN, LASER's ratio margin, the ``max`` / ``intersect`` / ``forward`` strategies,
  thresholds) is :mod:`polyalign.mine.score`, the same code ``polyalign mine`` runs; its names
  (:func:`mine`, :func:`knn`, :func:`best_threshold`...) are re-exported here.

Exact search runs in torch in row chunks (CPU or GPU, never an n x m matrix in memory for large
corpora); ``backend="faiss"`` uses ``faiss.IndexFlatIP`` (exact inner product) when faiss is
installed. Both give the same candidates.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..io import read_lines
from ..mine import score as _score

# The mining implementation lives in polyalign.mine.score; these names stay importable from here.
from ..mine.score import (  # noqa: F401
    MinedPair,
    best_threshold,
    f1_at_threshold,
    faiss_available,
    knn,
    knn_mean,
    margin_matrix,
    mine,
)

log = logging.getLogger(__name__)

_as_tensor = _score._as_tensor
_check_pair = _score._check_pair


def retrieval_accuracy(x, y, device=None) -> float:
    """Tatoeba accuracy x100: row i of ``x`` retrieves its cosine-nearest row of ``y``; correct if i."""
    xt, yt = _as_tensor(x, device), _as_tensor(y, device)
    _check_pair(xt, yt)
    correct = 0
    step = _score._row_chunk(yt.shape[0])
    for i in range(0, xt.shape[0], step):
        best = (xt[i : i + step] @ yt.T).argmax(dim=1).cpu()
        correct += int((best == torch.arange(i, i + best.shape[0])).sum())
    return 100.0 * correct / xt.shape[0]


XSIM_MARGINS = ("ratio", "distance", "absolute")


def _xsim_candidates(xt: torch.Tensor, yt: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` cosine-nearest rows of ``yt`` for each row of ``xt``: (cosines, indices), in index
    order. Among equal cosines at the k-th place the lower indices are kept, as by faiss's
    ``IndexFlatIP`` in LASER's code (equal cosines come from duplicate sentences); torch.topk's
    choice among ties is unspecified."""
    k = min(k, yt.shape[0])
    sims_out, idx_out = [], []
    step = _score._row_chunk(yt.shape[0])
    for i in range(0, xt.shape[0], step):
        cos = xt[i : i + step] @ yt.T
        kth = torch.topk(cos, k, dim=1).values[:, -1:]
        above, tied = cos > kth, cos == kth
        need = k - above.sum(dim=1, keepdim=True)
        keep = above | (tied & (tied.cumsum(dim=1, dtype=torch.int32) <= need))
        idx = keep.nonzero()[:, 1].view(-1, k)  # row-major: each row's indices ascending
        sims_out.append(cos.gather(1, idx).cpu())
        idx_out.append(idx.cpu())
    return torch.cat(sims_out), torch.cat(idx_out)


def xsim_predictions(x, y, k: int = 4, margin: str = "ratio", device=None) -> np.ndarray:
    """LASER's xsim choice (``source/xsim.py``, ``_score_knn``): for each row of ``x``, the index of
    its best row of ``y``. ``"ratio"``/``"distance"``: the best of its ``k`` cosine-nearest targets
    by ``cos / d`` or ``cos - d``, with ``d = (mean_k cos(x, NN_k(x)) + mean_k cos(y, NN_k(y))) / 2``
    (NN_k(x) among ``y``, NN_k(y) among ``x``); ``"absolute"``: the cosine-nearest target (``k``
    unused). ``k`` is capped at the number of rows. Exact ties (duplicate target vectors) go as in
    LASER with faiss: the nearest is the lowest index, the best margin candidate the highest."""
    if margin not in XSIM_MARGINS:
        raise ConfigError(f"unknown margin {margin!r} (ratio, distance, absolute)")
    xt, yt = _as_tensor(x, device), _as_tensor(y, device)
    _check_pair(xt, yt)
    if margin == "absolute":
        return _xsim_candidates(xt, yt, 1)[1][:, 0].numpy()
    sims, idx = _xsim_candidates(xt, yt, k)
    a = sims.mean(dim=1)
    b = knn_mean(yt, xt, k, device=device)
    denom = (a[:, None] + b[idx]) / 2
    scores = sims / denom if margin == "ratio" else sims - denom
    # LASER takes the first best in faiss's order, which lists equal cosines from the highest index.
    last = scores.shape[1] - 1 - scores.flip(1).argmax(dim=1)
    return idx[torch.arange(idx.shape[0]), last].numpy()


def xsim_errors(x, y, k: int = 4, margin: str = "ratio", tgt_texts=None, device=None) -> int:
    """LASER's xsim error count for ``x -> y`` (row i of ``x`` is aligned with row i of ``y``): the
    rows whose :func:`xsim_predictions` choice is wrong. Without ``tgt_texts`` a choice is wrong
    when it is not row i; with ``tgt_texts`` (the target sentences, one per row of ``y``; LASER's
    ``eval_text``) when its text differs from row i's, so retrieving a duplicate of the reference
    sentence is not an error."""
    best = xsim_predictions(x, y, k=k, margin=margin, device=device)
    if tgt_texts is None:
        return int((best != np.arange(len(best))).sum())
    if len(tgt_texts) != len(best):
        raise DataError(f"tgt_texts has {len(tgt_texts)} sentences for {len(best)} target embeddings")
    return sum(tgt_texts[i] != tgt_texts[j] for i, j in enumerate(best.tolist()))


def xsim_error_rate(x, y, k: int = 4, margin: str = "ratio", tgt_texts=None, device=None) -> float:
    """LASER's xsim error rate x100 for the direction ``x -> y`` (lower is better); see
    :func:`xsim_errors`."""
    errors = xsim_errors(x, y, k=k, margin=margin, tgt_texts=tgt_texts, device=device)
    return 100.0 * errors / max(1, len(x))


def xsim_all_candidates_errors(x, y, k: int = 4, margin: str = "ratio", device=None) -> int:
    """Not LASER's xsim: the margin's argmax over **all** of ``y`` (not only the ``k`` cosine
    neighbours); the count of rows of ``x`` whose best target is not row i. polyalign's xsim used
    this rule until it was made LASER's; kept to compare with figures measured that way."""
    xt, yt = _as_tensor(x, device), _as_tensor(y, device)
    _check_pair(xt, yt)
    if margin not in XSIM_MARGINS:
        raise ConfigError(f"unknown margin {margin!r} (ratio, distance, absolute)")
    if margin != "absolute":
        a = knn_mean(xt, yt, k, device=device).to(xt.device)
        b = knn_mean(yt, xt, k, device=device).to(xt.device)
    errors = 0
    step = _score._row_chunk(yt.shape[0])
    for i in range(0, xt.shape[0], step):
        cos = xt[i : i + step] @ yt.T
        if margin == "ratio":
            scores = cos / ((a[i : i + step, None] + b[None, :]) / 2)
        elif margin == "distance":
            scores = cos - (a[i : i + step, None] + b[None, :]) / 2
        else:
            scores = cos
        best = scores.argmax(dim=1).cpu()
        errors += int((best != torch.arange(i, i + best.shape[0])).sum())
    return errors


# ------------------------------------------------------------------------------------------------
# BUCC (mining itself: polyalign.mine.score)


@dataclass
class BuccSplit:
    """Two id-keyed corpora and their gold alignment ``{(src_id, tgt_id)}``."""

    src_ids: list[str]
    src_texts: list[str]
    tgt_ids: list[str]
    tgt_texts: list[str]
    gold: set[tuple[str, str]]
    name: str = ""


def _read_id_file(path: Path) -> tuple[list[str], list[str]]:
    ids, texts, seen = [], [], set()
    for i, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        sid, sep, text = line.partition("\t")
        if not sep:
            raise DataError("expected id<TAB>sentence", path, i)
        if sid in seen:
            raise DataError(f"duplicate id {sid!r}", path, i)
        seen.add(sid)
        ids.append(sid)
        texts.append(text)
    if not ids:
        raise DataError("no sentences", path)
    return ids, texts


def read_bucc_split(src_path, tgt_path, gold_path, name: str = "") -> BuccSplit:
    """Read ``id<TAB>sentence`` files and a ``src_id<TAB>tgt_id`` gold file; unknown ids are errors."""
    src_path, tgt_path, gold_path = Path(src_path), Path(tgt_path), Path(gold_path)
    src_ids, src_texts = _read_id_file(src_path)
    tgt_ids, tgt_texts = _read_id_file(tgt_path)
    src_set, tgt_set = set(src_ids), set(tgt_ids)
    gold = set()
    for i, line in enumerate(read_lines(gold_path), start=1):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != 2:
            raise DataError("expected src_id<TAB>tgt_id", gold_path, i)
        s, t = cells[0].strip(), cells[1].strip()
        if s not in src_set:
            raise DataError(f"gold source id {s!r} not in {src_path.name}", gold_path, i)
        if t not in tgt_set:
            raise DataError(f"gold target id {t!r} not in {tgt_path.name}", gold_path, i)
        gold.add((s, t))
    if not gold:
        raise DataError("gold file is empty", gold_path)
    return BuccSplit(src_ids, src_texts, tgt_ids, tgt_texts, gold, name)


def find_bucc_splits(folder, pair: str | None = None) -> dict[str, dict[str, BuccSplit | str]]:
    """BUCC layout in ``folder``: ``<src>-<tgt>.<split>.{<src>,<tgt>,gold}``. The dev split is
    ``dev`` or ``sample``, the test split ``test`` or ``training`` (the BUCC 2018 test gold is not
    public, so the training gold is the usual test). Returns ``{pair: {"dev": path-prefix, "test": ...}}``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("BUCC folder not found", folder)
    found: dict[str, dict] = {}
    for gold in sorted(folder.glob("*.gold")):
        parts = gold.name.split(".")
        if len(parts) != 3 or "-" not in parts[0]:
            continue
        found.setdefault(parts[0], {})[parts[1]] = gold
    if pair is not None:
        if pair not in found:
            raise DataError(f"no gold files for pair {pair!r} (found: {', '.join(found) or 'none'})", folder)
        found = {pair: found[pair]}
    if not found:
        raise DataError("no <src>-<tgt>.<split>.gold files", folder)
    out = {}
    for p, splits in found.items():
        dev = next((s for s in ("dev", "sample") if s in splits), None)
        test = next((s for s in ("test", "training") if s in splits), None)
        if dev is None or test is None:
            raise DataError(
                f"{p}: need a dev/sample split and a test/training split with gold files "
                f"(found {sorted(splits)})",
                folder,
            )
        src, tgt = p.split("-", 1)
        out[p] = {
            name: read_bucc_split(
                folder / f"{p}.{split}.{src}", folder / f"{p}.{split}.{tgt}", splits[split], f"{p}.{split}"
            )
            for name, split in (("dev", dev), ("test", test))
        }
    return out


def _take(x, rows: np.ndarray):
    return x[torch.from_numpy(rows).to(x.device)] if isinstance(x, torch.Tensor) else np.asarray(x)[rows]


def bucc_candidates(
    src, tgt, split: BuccSplit, k: int = 4, strategy: str = "max", backend: str = "torch", device=None
) -> list[tuple[str, str, float]]:
    """Candidate pairs ``(src_id, tgt_id, score)`` of a split, best first, as XTREME's and LASER's
    BUCC pipelines make them (``mine_bitext`` + ``read_candidate2score``; checked against their
    figures in ``tests/test_bucc_reference.py``). ``src``/``tgt``: one embedding per sentence.

    Each side's sentences are unified before mining (a repeated sentence is one row: LASER's
    ``--unify``), pairs scoring ``<= 0`` are no candidates (``mine_bitext`` writes those above its
    threshold 0), and a pair whose source or target sentence occurs more than once in its split is
    dropped (the reference maps sentences back to ids and discards repeated ones): a gold pair on a
    repeated sentence is never found and counts as missed.
    """
    rows, repeated = {}, {}
    for side, texts in (("src", split.src_texts), ("tgt", split.tgt_texts)):
        first: dict[str, int] = {}
        for i, text in enumerate(texts):
            first.setdefault(text, i)
        counts: dict[str, int] = {}
        for text in texts:  # the reference compares stripped sentences when it maps them to ids
            counts[text.strip()] = counts.get(text.strip(), 0) + 1
        rows[side] = np.fromiter(first.values(), dtype=np.int64, count=len(first))
        repeated[side] = {t for t, c in counts.items() if c > 1}
    out = []
    src_u, tgt_u = _take(src, rows["src"]), _take(tgt, rows["tgt"])
    for p in mine(src_u, tgt_u, k=k, strategy=strategy, backend=backend, device=device):
        i, j = int(rows["src"][p.src]), int(rows["tgt"][p.tgt])
        if p.score > 0 and split.src_texts[i].strip() not in repeated["src"]:
            if split.tgt_texts[j].strip() not in repeated["tgt"]:
                out.append((split.src_ids[i], split.tgt_ids[j], p.score))
    return out


def _mine_ids(
    encoder, split: BuccSplit, key: str | None, k, strategy, backend, device
) -> list[tuple[str, str, float]]:
    src = encoder.encode(split.src_texts, key=f"{key}/src" if key else None)
    tgt = encoder.encode(split.tgt_texts, key=f"{key}/tgt" if key else None)
    return bucc_candidates(src, tgt, split, k=k, strategy=strategy, backend=backend, device=device)


def bucc_evaluate(
    encoder,
    dev: BuccSplit,
    test: BuccSplit,
    k: int = 4,
    strategy: str = "max",
    backend: str = "torch",
    device=None,
    key: str | None = None,
) -> dict:
    """Mine dev, choose the F1-optimal threshold there, mine test and score it at that threshold:
    XTREME's / LASER's BUCC protocol (candidates: :func:`bucc_candidates`; threshold:
    :func:`best_threshold`, their ``bucc_optimize``; test pairs kept at ``>=`` it, as
    ``bucc_extract``)."""
    dev_pairs = _mine_ids(encoder, dev, f"{key}/dev" if key else None, k, strategy, backend, device)
    threshold = best_threshold(dev_pairs, dev.gold)
    test_pairs = _mine_ids(encoder, test, f"{key}/test" if key else None, k, strategy, backend, device)
    return f1_at_threshold(test_pairs, test.gold, threshold)

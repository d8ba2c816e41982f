"""Semantic textual similarity: Spearman x100 between cosine similarity and gold scores.

Readers:

* :func:`read_sts17` — SemEval-2017 Task 1 official files (``STS2017.eval.v1.1/STS.input.trackN.xx-yy.txt``
  + ``STS2017.gs/STS.gs.trackN.xx-yy.txt``, or the same inside ``Sts2017.eval.v1.1.zip`` /
  ``Sts2017.gs.zip``). Subsets: ``ar-ar``, ``ar-en``, ``es-es``, ``es-en`` (track 4a), ``es-en-4b``
  (track 4b, WMT news) and ``en-en``. ``tr-en`` (track 6) is refused: its input has 500 lines but
  the gold file 250 scores.
* :func:`read_stsb` / :func:`read_stsb_crosslingual` — STS-B multi-mt (``stsb-xx-{split}.csv``: s1,
  s2, score; CSV quoting). Cross-lingual pairs take sentence 1 from language a and sentence 2 from
  b; this is only valid because the gold scores are identical across languages, which is checked.
* :func:`read_sts_file` — any TSV/CSV with two sentence columns and a score column.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from ..errors import DataError, UnknownLanguageError
from ..io import read_lines, resolve_data_dir

STS17_TRACKS = {
    "ar-ar": "1.ar-ar",
    "ar-en": "2.ar-en",
    "es-es": "3.es-es",
    "es-en": "4a.es-en",
    "es-en-4b": "4b.es-en",
    "en-en": "5.en-en",
}
STS17_DEFAULT = ["ar-ar", "ar-en", "es-es", "es-en", "en-en"]
STSB_LANGS = ["de", "en", "es", "fr", "it", "ja", "nl", "pl", "pt", "ru", "zh"]


@dataclass
class StsData:
    """Sentence pairs with gold scores; ``langs`` = (language of sentence 1, of sentence 2)."""

    s1: list[str]
    s2: list[str]
    scores: np.ndarray
    langs: tuple[str, str]
    name: str = ""

    def __post_init__(self):
        if not (len(self.s1) == len(self.s2) == len(self.scores)):
            raise DataError(
                f"{self.name}: misaligned STS data ({len(self.s1)}, {len(self.s2)}, {len(self.scores)})"
            )
        if len(self.s1) == 0:
            raise DataError(f"{self.name}: no sentence pairs")


def spearman(pred, gold) -> float:
    """Spearman rank correlation x100 (ties get average ranks, as ``scipy.stats.spearmanr``)."""
    pred, gold = np.asarray(pred, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    if pred.shape != gold.shape or pred.ndim != 1:
        raise DataError(
            f"spearman needs two 1-D arrays of the same length, got {pred.shape} and {gold.shape}"
        )
    if len(pred) < 2:
        raise DataError("spearman needs at least 2 pairs")
    if np.ptp(pred) == 0 or np.ptp(gold) == 0:
        raise DataError("spearman is undefined for a constant input (all scores equal)")
    return 100.0 * float(stats.spearmanr(pred, gold).statistic)


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity."""
    a, b = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    na = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return (a * b).sum(axis=1) / np.maximum(na, 1e-12)


def evaluate_sts(encoder, data: StsData, key: str | None = None) -> float:
    """Spearman x100 between cosine(s1, s2) and the gold scores."""
    e1 = encoder.encode(data.s1, key=f"{key}/s1" if key else None)
    e2 = encoder.encode(data.s2, key=f"{key}/s2" if key else None)
    return spearman(cosine_rows(e1, e2), data.scores)


# ------------------------------------------------------------------------------------------------
# STS17


def _sts17_text(root: Path, subdir: str, zip_name: str, file_name: str) -> tuple[list[str], Path]:
    path = root / subdir / file_name
    if path.is_file():
        return read_lines(path), path
    zpath = root / zip_name
    if zpath.is_file():
        with zipfile.ZipFile(zpath) as z:
            for info in z.infolist():
                if info.filename.endswith("/" + file_name) or info.filename == file_name:
                    raw = z.read(info)
                    try:
                        text = raw.decode("utf-8-sig")
                    except UnicodeDecodeError as e:
                        raise DataError(f"invalid UTF-8 in {info.filename}: {e}", zpath) from None
                    return text.replace("\r\n", "\n").rstrip("\n").split("\n"), zpath
    raise DataError(f"STS17 file {file_name} not found (looked in {root / subdir} and {zpath})", root)


def read_sts17(data_dir=None, pair: str = "en-en") -> StsData:
    root = resolve_data_dir(data_dir) / "sts17" / "official_semeval2017"
    if pair in ("tr-en", "en-tr"):
        raise DataError("STS17 tr-en is unusable: the input has 500 lines but the gold file 250 scores")
    if pair not in STS17_TRACKS:
        raise UnknownLanguageError(pair, list(STS17_TRACKS), "STS17")
    track = STS17_TRACKS[pair]
    inputs, in_path = _sts17_text(
        root, "STS2017.eval.v1.1", "Sts2017.eval.v1.1.zip", f"STS.input.track{track}.txt"
    )
    golds, gs_path = _sts17_text(root, "STS2017.gs", "Sts2017.gs.zip", f"STS.gs.track{track}.txt")
    if len(inputs) != len(golds):
        raise DataError(f"{len(inputs)} input lines but {len(golds)} gold scores in {gs_path.name}", in_path)
    s1, s2, scores = [], [], []
    for i, (line, g) in enumerate(zip(inputs, golds), start=1):
        cells = line.split("\t")
        if len(cells) < 2:
            raise DataError("expected sentence1<TAB>sentence2", in_path, i)
        try:
            score = float(g)
        except ValueError:
            raise DataError(f"gold score {g!r} is not a number", gs_path, i) from None
        s1.append(cells[0].strip())
        s2.append(cells[1].strip())
        scores.append(score)
    a, b = track.split(".")[1].split("-")
    return StsData(s1, s2, np.array(scores), (a, b), f"sts17/{pair}")


# ------------------------------------------------------------------------------------------------
# STS-B multi-mt


def _read_csv_rows(path: Path, delimiter: str = ",") -> list[list[str]]:
    lines = read_lines(path)  # strict UTF-8 with line numbers
    return list(csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter))


def _stsb_path(data_dir, lang: str, split: str) -> Path:
    from ..data.readers import resolve_code

    folder = resolve_data_dir(data_dir) / "stsb_multi_mt"
    if not folder.is_dir():
        raise DataError("STS-B multi-mt folder not found", folder)
    available = sorted({p.name.split("-")[1] for p in folder.glob(f"stsb-*-{split}.csv")})
    code = resolve_code(lang, available or STSB_LANGS, where=str(folder))
    path = folder / f"stsb-{code}-{split}.csv"
    if not path.is_file():
        raise DataError("file not found", path)
    return path


def read_stsb(data_dir=None, lang: str = "en", split: str = "test") -> StsData:
    path = _stsb_path(data_dir, lang, split)
    code = path.name.split("-")[1]
    s1, s2, scores = [], [], []
    for i, row in enumerate(_read_csv_rows(path), start=1):
        if not row:
            continue
        if len(row) != 3:
            raise DataError(f"expected 3 CSV fields (s1, s2, score), got {len(row)}", path, i)
        try:
            score = float(row[2])
        except ValueError:
            if i == 1:  # header
                continue
            raise DataError(f"score {row[2]!r} is not a number", path, i) from None
        s1.append(row[0])
        s2.append(row[1])
        scores.append(score)
    return StsData(s1, s2, np.array(scores), (code, code), f"stsb/{code}")


def read_stsb_crosslingual(
    data_dir=None, lang1: str = "en", lang2: str = "de", split: str = "test"
) -> StsData:
    """Sentence 1 in ``lang1``, sentence 2 in ``lang2``; the gold columns must be identical."""
    a = read_stsb(data_dir, lang1, split)
    b = read_stsb(data_dir, lang2, split)
    if len(a.scores) != len(b.scores) or not np.allclose(a.scores, b.scores, atol=1e-6):
        n_diff = abs(len(a.scores) - len(b.scores)) or int((~np.isclose(a.scores, b.scores, atol=1e-6)).sum())
        raise DataError(
            f"STS-B {a.langs[0]} and {b.langs[0]} {split} files are not aligned: the score columns "
            f"differ ({n_diff} rows), so cross-lingual pairs cannot be formed"
        )
    return StsData(a.s1, b.s2, a.scores, (a.langs[0], b.langs[0]), f"stsb-x/{a.langs[0]}-{b.langs[0]}")


# ------------------------------------------------------------------------------------------------
# Any file

_S1 = {"s1", "sentence1", "sentence_1", "text1", "text_1", "sent1", "premise", "anchor"}
_S2 = {"s2", "sentence2", "sentence_2", "text2", "text_2", "sent2", "hypothesis", "positive"}
_SCORE = {"score", "similarity", "similarity_score", "gold", "label", "relatedness_score"}


def _is_number(text: str) -> bool:
    return re.fullmatch(r"\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*", text) is not None


def read_sts_file(path, langs: tuple[str, str] = ("und", "und")) -> StsData:
    """A ``.tsv``/``.csv`` (tab or comma, CSV quoting) with two sentence columns and a score column.

    With a header, columns are found by name (``sentence1``/``s1``, ``sentence2``/``s2``,
    ``score``/``similarity``/``label``); without one, columns 0 and 1 are the sentences and the last
    column is the score.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    rows = [r for r in _read_csv_rows(path, delimiter) if r]
    if not rows:
        raise DataError("empty file", path)
    i1, i2, isc = 0, 1, len(rows[0]) - 1
    start = 0
    if not _is_number(rows[0][-1]):
        header = [c.strip().lower() for c in rows[0]]
        try:
            i1 = next(i for i, c in enumerate(header) if c in _S1)
            i2 = next(i for i, c in enumerate(header) if c in _S2)
            isc = next(i for i, c in enumerate(header) if c in _SCORE)
        except StopIteration:
            raise DataError(
                f"header {rows[0]} needs sentence1, sentence2 and score columns", path, 1
            ) from None
        start = 1
    if isc in (i1, i2) or len(rows[0]) < 3:
        raise DataError("expected two sentence columns and a score column", path, 1)
    s1, s2, scores = [], [], []
    for n, row in enumerate(rows[start:], start=start + 1):
        if len(row) <= max(i1, i2, isc):
            raise DataError(f"expected at least {max(i1, i2, isc) + 1} fields, got {len(row)}", path, n)
        if not _is_number(row[isc]):
            raise DataError(f"score {row[isc]!r} is not a number", path, n)
        s1.append(row[i1])
        s2.append(row[i2])
        scores.append(float(row[isc]))
    return StsData(s1, s2, np.array(scores), langs, f"sts-file/{path.name}")

"""Readers for the parallel corpora polyalign trains and evaluates on.

All readers return plain Python structures (``dict[lang, list[str]]`` for line-aligned multi-way
text, lists of pairs for bitext) and fail with a :class:`DataError` naming the file and line.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError, UnknownLanguageError
from ..io import read_jsonl, read_lines, resolve_data_dir
from ..langs import canonical

log = logging.getLogger(__name__)

XNLI_LANGS = ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]
# Where one canonical language has several FLORES codes, the one users mean by the bare code.
_FLORES_PREFERRED = {"zho": "zho_Hans", "ara": "arb_Arab", "fas": "pes_Arab", "msa": "zsm_Latn"}


def check_aligned(texts: dict[str, list[str]], files: dict[str, Path] | None = None) -> None:
    """Line-aligned files must have the same number of lines; name the offenders if not."""
    counts = {lang: len(lines) for lang, lines in texts.items()}
    if len(set(counts.values())) > 1:
        ref_lang = next(iter(counts))
        for lang, n in counts.items():
            if n != counts[ref_lang]:
                where = files[lang] if files else lang
                ref = files[ref_lang] if files else ref_lang
                raise DataError(
                    f"has {n} lines but {ref} has {counts[ref_lang]}: files are not line-aligned", where
                )


def read_parallel_folder(
    folder: str | Path, langs: list[str] | None = None, suffix: str | None = None
) -> dict[str, list[str]]:
    """A folder of line-aligned files, one per language, named ``<lang><suffix>`` (FLORES: ``deu_Latn.dev``).

    ``langs`` may use any code (``de``, ``deu``, ``deu_Latn``); they are resolved against the file names.
    Returns ``{file_lang_code: lines}`` in the order of ``langs``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("folder not found", folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if suffix is None:
        suffixes = {p.suffix for p in files}
        suffix = suffixes.pop() if len(suffixes) == 1 else ""
    by_code = {
        p.name[: len(p.name) - len(suffix)] if suffix else p.name: p for p in files if p.name.endswith(suffix)
    }
    if not by_code:
        raise DataError(f"no files ending in {suffix!r}", folder)
    codes = [resolve_code(lang, by_code, where=str(folder)) for lang in langs] if langs else sorted(by_code)
    texts = {code: read_lines(by_code[code]) for code in codes}
    check_aligned(texts, {c: by_code[c] for c in codes})
    return texts


def resolve_code(lang: str, available, where: str = "") -> str:
    """Map a user's code onto the codes a corpus uses: exact match first, then same language."""
    available = list(available)
    if lang in available:
        return lang
    key = canonical(lang)
    matches = [a for a in available if canonical(a) == key]
    if len(matches) == 1:
        return matches[0]
    if matches:
        preferred = _FLORES_PREFERRED.get(key)
        if preferred in matches:
            return preferred
        return sorted(matches)[0]
    raise UnknownLanguageError(lang, available, where)


def read_flores(
    data_dir: str | Path | None = None, split: str = "devtest", langs: list[str] | None = None
) -> dict[str, list[str]]:
    """FLORES-200 ``dev`` (997 lines) or ``devtest`` (1012), multi-way parallel across 204 languages."""
    if split not in ("dev", "devtest"):
        raise DataError(f"FLORES split must be 'dev' or 'devtest', not {split!r}")
    folder = resolve_data_dir(data_dir) / "flores200" / split
    return read_parallel_folder(folder, langs, suffix=f".{split}")


def flores_languages(data_dir: str | Path | None = None, split: str = "devtest") -> list[str]:
    folder = resolve_data_dir(data_dir) / "flores200" / split
    if not folder.is_dir():
        raise DataError("FLORES-200 folder not found", folder)
    return sorted(p.name[: -len(split) - 1] for p in folder.glob(f"*.{split}"))


def tatoeba_languages(data_dir: str | Path | None = None) -> list[str]:
    folder = resolve_data_dir(data_dir) / "tatoeba"
    if not folder.is_dir():
        raise DataError("Tatoeba folder not found", folder)
    return sorted({p.name.split(".")[1].split("-")[0] for p in folder.glob("tatoeba.*-eng.eng")})


def read_tatoeba_pair(data_dir: str | Path | None = None, lang: str = "deu") -> tuple[list[str], list[str]]:
    """Tatoeba ``tatoeba.xxx-eng.{xxx,eng}``: (sentences in xxx, their English translations)."""
    folder = resolve_data_dir(data_dir) / "tatoeba"
    code = resolve_code(lang, tatoeba_languages(data_dir), where=str(folder))
    src_path = folder / f"tatoeba.{code}-eng.{code}"
    eng_path = folder / f"tatoeba.{code}-eng.eng"
    src, eng = read_lines(src_path), read_lines(eng_path)
    check_aligned({code: src, "eng": eng}, {code: src_path, "eng": eng_path})
    return src, eng


@dataclass
class XnliExample:
    """One XNLI line across languages: ``premise[lang]``, ``hypothesis[lang]``, label."""

    premise: dict[str, str]
    hypothesis: dict[str, str]
    label: str | None


def read_xnli(
    data_dir: str | Path | None = None, langs: list[str] | None = None, splits=("dev", "test")
) -> list[XnliExample]:
    """XNLI in XTREME layout (``dev-xx.tsv``: premise, hypothesis, label; ``test-xx.tsv`` + ``test-labels.txt``).

    Line i is the same example in all 15 languages. Returns one :class:`XnliExample` per line, dev first.
    """
    folder = resolve_data_dir(data_dir) / "xnli" / "xtreme_format"
    if not folder.is_dir():
        raise DataError("XNLI folder not found (expected xnli/xtreme_format)", folder)
    langs = [resolve_code(lang, XNLI_LANGS, where=str(folder)) for lang in (langs or XNLI_LANGS)]
    examples: list[XnliExample] = []
    for split in splits:
        if split not in ("dev", "test"):
            raise DataError(f"XNLI split must be 'dev' or 'test', not {split!r}")
        columns: dict[str, list[list[str]]] = {}
        files = {}
        for lang in langs:
            path = folder / f"{split}-{lang}.tsv"
            files[lang] = path
            rows = []
            for i, line in enumerate(read_lines(path), start=1):
                cells = line.split("\t")
                if len(cells) < 2:
                    raise DataError(f"expected premise<TAB>hypothesis, got {len(cells)} column(s)", path, i)
                rows.append(cells)
            columns[lang] = rows
        check_aligned(columns, files)
        labels: list[str | None]
        if split == "test":
            label_path = folder / "test-labels.txt"
            labels = read_lines(label_path) if label_path.is_file() else [None] * len(columns[langs[0]])
        else:
            labels = [cells[2] if len(cells) > 2 else None for cells in columns[langs[0]]]
        for i in range(len(columns[langs[0]])):
            examples.append(
                XnliExample(
                    premise={lang: columns[lang][i][0] for lang in langs},
                    hypothesis={lang: columns[lang][i][1] for lang in langs},
                    label=labels[i] if i < len(labels) else None,
                )
            )
    return examples


def read_bitext(
    path: str | Path, src_lang: str, tgt_lang: str, src_field: str | None = None, tgt_field: str | None = None
) -> list[tuple[str, str]]:
    """Generic bitext: TSV (exactly ``src<TAB>tgt``) or JSONL (fields default to the language codes)."""
    path = Path(path)
    pairs: list[tuple[str, str]] = []
    if path.suffix in (".jsonl", ".json"):
        sf, tf = src_field or src_lang, tgt_field or tgt_lang
        for i, row in enumerate(read_jsonl(path), start=1):
            if sf not in row or tf not in row:
                raise DataError(f"missing field {sf!r} or {tf!r}", path, i)
            pairs.append((str(row[sf]), str(row[tf])))
    else:
        for i, line in enumerate(read_lines(path), start=1):
            if not line.strip():
                continue
            cells = next(csv.reader([line], delimiter="\t", quoting=csv.QUOTE_NONE))
            if len(cells) != 2:
                # A third column (an id, a score) would silently shift which column is which language.
                raise DataError(
                    f"expected two tab-separated columns ({src_lang}, {tgt_lang}), got {len(cells)}; "
                    "keep only those two (e.g. `cut -f2,3`) or use JSONL with named fields",
                    path,
                    i,
                )
            pairs.append((cells[0], cells[1]))
    if not pairs:
        raise DataError("no sentence pairs found", path)
    return pairs


def load_hf(name_or_path: str, split: str | None = None, trust_remote_code: bool = False):
    """A Hugging Face dataset from a hub id (online) or a ``save_to_disk`` folder (offline)."""
    import datasets

    path = Path(name_or_path)
    if path.exists():
        ds = datasets.load_from_disk(str(path))
    else:
        try:
            ds = datasets.load_dataset(name_or_path, split=split, trust_remote_code=trust_remote_code)
        except Exception as e:  # hub unreachable, unknown id...
            raise DataError(f"could not load Hugging Face dataset {name_or_path!r}: {e}") from None
    if isinstance(ds, datasets.DatasetDict):
        if split is None:
            if len(ds) != 1:
                raise DataError(f"{name_or_path}: pick a split with --split (has {sorted(ds)})")
            split = next(iter(ds))
        if split not in ds:
            raise DataError(f"{name_or_path}: no split {split!r} (has {sorted(ds)})")
        ds = ds[split]
    return ds

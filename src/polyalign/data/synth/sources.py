"""English input for synth: ``(group_id, sentence)`` pairs from text/TSV/JSONL files, a Hugging Face
dataset, or the English column of an existing groups corpus; then cleaning with counts."""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ...errors import ConfigError, DataError
from ...io import read_jsonl, read_lines
from ..groups import GROUP_ID, _norm

Source = tuple[str, str | None]  # (group_id, text)


def _prefix(path: Path) -> str:
    stem = path.name.split(".")[0] or "input"
    return "synth-" + re.sub(r"[^A-Za-z0-9_-]+", "-", stem)


def read_file(path: str | os.PathLike, column: str | None = None) -> list[Source]:
    """``.txt`` (one sentence a line), ``.tsv`` (``column``: 0-based index, default 0, or a header
    name, in which case the first line is the header) or ``.jsonl`` (``column``: field, default
    ``text``, else ``en``). Group ids carry the file name and 1-based line number."""
    path = Path(path)
    prefix = _prefix(path)
    suffix = path.suffix.lower()
    out: list[Source] = []
    if suffix in (".jsonl", ".json"):
        rows = list(read_jsonl(path))
        field_name = column or ("text" if rows and "text" in rows[0] else "en")
        for i, row in enumerate(rows, start=1):
            if field_name not in row:
                raise DataError(
                    f"no field {field_name!r} (fields: {', '.join(row)}); pick one with --column", path, i
                )
            value = row[field_name]
            gid = str(row[GROUP_ID]) if GROUP_ID in row else f"{prefix}-{i}"
            out.append((gid, None if value is None else str(value)))
        return out
    lines = read_lines(path)
    if suffix in (".tsv", ".tab"):
        start = 1
        index = 0
        if column is not None and not column.isdigit():
            header = lines[0].split("\t") if lines else []
            if column not in header:
                raise DataError(f"no column {column!r} in the header ({', '.join(header)})", path, 1)
            index, start = header.index(column), 2
        elif column is not None:
            index = int(column)
        for i, line in enumerate(lines[start - 1 :], start=start):
            cells = next(csv.reader([line], delimiter="\t", quoting=csv.QUOTE_NONE)) if line else [""]
            if index >= len(cells):
                raise DataError(f"no column {index} (line has {len(cells)})", path, i)
            out.append((f"{prefix}-{i}", cells[index]))
        return out
    if column is not None:
        raise ConfigError(f"--column applies to .tsv/.jsonl inputs, not {path.name}")
    return [(f"{prefix}-{i}", line) for i, line in enumerate(lines, start=1)]


def read_hf(name: str, column: str = "text", split: str | None = None) -> list[Source]:
    from ..readers import load_hf

    ds = load_hf(name, split)
    if column not in ds.column_names:
        raise DataError(f"{name}: no column {column!r}; columns: {', '.join(ds.column_names)}")
    ids = ds[GROUP_ID] if GROUP_ID in ds.column_names else [f"hf-{i}" for i in range(len(ds))]
    return list(zip(map(str, ids), ds[column]))


def read_groups(path: str | os.PathLike, column: str = "en") -> list[Source]:
    """The ``groups`` view of a saved corpus (read on its own, so other views don't matter)."""
    import datasets

    from ..build import load_corpus

    path = Path(path)
    if (path / "groups" / "state.json").is_file():
        groups = datasets.load_from_disk(str(path / "groups"))
    else:
        corpus = load_corpus(path)
        if "groups" not in corpus:
            raise DataError("no groups view in this corpus", path)
        groups = corpus["groups"]
    if column not in groups.column_names:
        langs = [c for c in groups.column_names if c != GROUP_ID]
        raise DataError(f"groups have no {column!r} column (languages: {', '.join(langs)})", path)
    return list(zip(groups[GROUP_ID], groups[column]))


@dataclass
class InputReport:
    read: int = 0
    kept: int = 0
    truncated: int = 0
    removed: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {
            "read": self.read,
            "kept": self.kept,
            "truncated": self.truncated,
            "removed": dict(self.removed),
        }


def clean_sources(
    sources: list[Source],
    max_chars: int | None = 1000,
    long: str = "skip",
    dedup: bool = True,
    limit: int | None = None,
) -> tuple[list[tuple[str, str]], InputReport]:
    """Skip empty sentences, skip or truncate (at a word boundary) over-long ones, drop repeated
    sentences and repeated group ids (first kept), stop after ``limit``; all counted."""
    if long not in ("skip", "truncate"):
        raise ConfigError(f"long must be 'skip' or 'truncate', not {long!r}")
    report = InputReport()
    seen_text: set[str] = set()
    seen_id: set[str] = set()
    out: list[tuple[str, str]] = []
    for gid, text in sources:
        if limit is not None and len(out) >= limit:
            break
        report.read += 1
        text = " ".join((text or "").split())
        if not text:
            report.removed["empty"] += 1
            continue
        if max_chars and len(text) > max_chars:
            if long == "skip":
                report.removed["too_long"] += 1
                continue
            cut = text[:max_chars]
            text = cut.rsplit(" ", 1)[0] if " " in cut else cut
            report.truncated += 1
        if gid in seen_id:
            report.removed["duplicate_id"] += 1
            continue
        key = _norm(text)
        if dedup and key in seen_text:
            report.removed["duplicate"] += 1
            continue
        seen_text.add(key)
        seen_id.add(gid)
        out.append((gid, text))
    report.kept = len(out)
    if not out:
        raise DataError(f"no English sentences left to translate ({report.as_dict()})")
    return out, report

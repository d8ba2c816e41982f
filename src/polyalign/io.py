"""File helpers shared by every module: strict UTF-8 line reading and atomic writes.

Writes go to a temporary sibling and are renamed into place, so a killed process never leaves a
half-written file or directory behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import DataError

DATA_DIR_ENV = "POLYALIGN_DATA_DIR"
DEFAULT_DATA_DIR = "../shared/data"


def resolve_data_dir(data_dir: str | os.PathLike | None = None, must_exist: bool = True) -> Path:
    """The data folder: explicit argument, else $POLYALIGN_DATA_DIR, else ../shared/data."""
    path = Path(data_dir or os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser()
    if must_exist and not path.is_dir():
        raise DataError(
            f"data folder not found: {path.resolve()} — pass --data-dir DIR or set ${DATA_DIR_ENV}"
        )
    return path


def read_lines(path: str | os.PathLike, allow_empty: bool = True) -> list[str]:
    """Read a text file as lines (newline stripped), failing on invalid UTF-8 with its line number.

    Empty lines are kept (they carry alignment in line-aligned corpora) unless ``allow_empty`` is
    False, in which case the first empty line is an error.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path)
    return decode_lines(path.read_bytes(), path, allow_empty)


def decode_lines(raw: bytes, source: str | os.PathLike, allow_empty: bool = True) -> list[str]:
    """:func:`read_lines` on bytes already read (standard input); ``source`` names them in errors."""
    path = source
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for i, line in enumerate(lines, start=1):
        if line.endswith(b"\r"):
            line = line[:-1]
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataError(
                f"invalid UTF-8 at byte {e.start} ({line[e.start : e.start + 4]!r})", path, i
            ) from None
        if not allow_empty and not text.strip():
            raise DataError("empty line", path, i)
        out.append(text)
    return out


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    for i, text in enumerate(read_lines(path), start=1):
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as e:
            raise DataError(f"invalid JSON ({e.msg})", path, i) from None
        if not isinstance(row, dict):
            raise DataError("each JSONL line must be an object", path, i)
        yield row


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, is_dir: bool = False):
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    For directories the old directory (if any) is replaced as a whole. On error the temporary is
    removed and ``path`` is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) if is_dir else None
    if not is_dir:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        if is_dir:
            if path.exists():
                old = path.with_name(f".{path.name}.old-{os.getpid()}")
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_jsonl_atomic(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def append_jsonl(path: str | os.PathLike, row: dict) -> None:
    """Append one JSON row and flush; used for logs where each line is complete on its own."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
        f.flush()

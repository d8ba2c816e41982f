"""File helpers shared by every module: strict UTF-8 line reading, atomic writes, output guards.

Writes go to a temporary sibling and are renamed into place, so a killed process never leaves a
half-written file or directory behind. Every output folder polyalign creates carries a marker
(``.polyalign-output.json``: kind, version, date); :func:`prepare_output` refuses to replace a folder
without it, an output of another kind, or a previous output unless asked to (``--overwrite``).
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import DataError, OutputError

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


# Staging names: ".<target>.polyalign-tmp-<pid>-<random>" (and "-old-" for a replaced folder). They
# are hidden, distinctive, and carry the writer's pid, so a later write to the same target can remove
# what a killed writer left behind without touching a live writer's files or anything of the user's.
_STAGING = re.compile(r"^\.(?P<target>.+)\.polyalign-(?:tmp|old)-(?P<pid>\d+)-[0-9a-f]+$")


def _staging_path(path: Path, role: str) -> Path:
    return path.with_name(f".{path.name}.polyalign-{role}-{os.getpid()}-{secrets.token_hex(4)}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def clean_staging(path: str | os.PathLike) -> list[Path]:
    """Remove the staging files/folders a killed writer of ``path`` left beside it; returns them."""
    path = Path(path)
    removed = []
    with contextlib.suppress(OSError):
        for entry in path.parent.glob(f".{glob.escape(path.name)}.polyalign-*"):
            m = _STAGING.match(entry.name)
            if m and m["target"] == path.name and not _pid_alive(int(m["pid"])):
                _remove(entry)
                removed.append(entry)
    return removed


def is_staging_name(name: str) -> bool:
    return _STAGING.match(name) is not None


def _make_staging(path: Path, is_dir: bool) -> Path:
    """Create the temporary sibling; modes 0o777/0o666 so the user's umask decides, as for any file."""
    tmp = _staging_path(path, "tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if is_dir:
            os.mkdir(tmp, 0o777)
        else:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
    except OSError as e:
        raise OutputError(f"{path}: cannot write here ({e.strerror or e})") from None
    return tmp


def probe_writable(path: str | os.PathLike) -> None:
    """Fail now, with one line, if ``path`` could not be written at the end of a long job."""
    _remove(_make_staging(Path(path), is_dir=True))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, is_dir: bool = False):
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    For directories the old directory (if any) is replaced as a whole. On error the temporary is
    removed and ``path`` is untouched. Leftovers of a killed earlier write to ``path`` are removed.
    """
    path = Path(path)
    clean_staging(path)
    tmp = _make_staging(path, is_dir)
    try:
        yield tmp
        if is_dir and path.exists():
            old = _staging_path(path, "old")
            os.replace(path, old)
            os.replace(tmp, path)
            _remove(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


# ------------------------------------------------------------------------------------------------
# Output folders: never replace what polyalign did not write

MARKER = ".polyalign-output.json"


def _legacy_corpus(path: Path) -> bool:
    return (path / "polyalign_corpus.json").is_file()


def _legacy_train(path: Path) -> bool:
    return (path / "config.yaml").is_file() and (
        (path / "train_log.jsonl").is_file() or (path / "checkpoints").is_dir()
    )


def _legacy_eval(path: Path) -> bool:
    return all(p.is_file() and p.suffix in (".jsonl", ".md") for p in path.iterdir())


# Outputs written before folders carried a marker, recognised by files only polyalign writes.
_LEGACY = {
    "corpus": _legacy_corpus,
    "train": _legacy_train,
    "eval": _legacy_eval,
    "study": lambda p: _legacy_corpus(p / "corpus"),
    "demo": lambda p: (p / "demo_results.md").is_file(),
    "report": lambda p: (p / "deltas.md").is_file(),
}


def output_kind(path: str | os.PathLike) -> str | None:
    """The kind recorded in a folder's marker (``corpus``, ``train``, ``eval``…), else None."""
    marker = Path(path) / MARKER
    if not marker.is_file():
        return None
    try:
        return str(json.loads(marker.read_text(encoding="utf-8"))["kind"])
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable"


def write_marker(folder: str | os.PathLike, kind: str) -> None:
    """Mark ``folder`` as polyalign's own output of ``kind``."""
    from . import __version__

    created = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    info = {"kind": kind, "version": __version__, "created": created}
    write_text_atomic(Path(folder) / MARKER, json.dumps(info) + "\n")


def prepare_output(
    path: str | os.PathLike,
    kind: str,
    *,
    overwrite: bool = False,
    resume: bool = False,
    create: bool = True,
    hint: str = "pass --overwrite to replace it",
) -> bool:
    """Check that ``path`` may receive an output of ``kind``; with ``create``, make it ready.

    Allowed: an absent or empty folder; polyalign's own output of the same kind with ``overwrite``
    (``create`` then empties it) or ``resume`` (kept, to continue or merge into). Refused with one
    line naming the path: a file, a non-empty folder polyalign did not write (its entries listed),
    another kind of output, a previous output without either flag, an unwritable location. Without
    ``create`` nothing is changed except a probe that the location is writable (for writers that
    replace the folder atomically at the end, such as :func:`polyalign.data.build.save_corpus`).
    Returns True when an earlier output is kept (``resume``).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputError(f"{path}: exists and is not a folder; choose another output path")
    entries = []
    if path.is_dir():
        entries = sorted(p.name for p in path.iterdir() if p.name != MARKER and not is_staging_name(p.name))
    found = output_kind(path) if path.is_dir() else None
    if found is None and entries and _LEGACY.get(kind, lambda p: False)(path):
        found = kind
    if entries:
        if found is None:
            shown = ", ".join(entries[:5]) + (f" and {len(entries) - 5} more" if len(entries) > 5 else "")
            raise OutputError(
                f"{path}: folder is not empty and was not written by polyalign (it holds {shown}); "
                "choose another output path"
            )
        if found == "unreadable":
            raise OutputError(f"{path}: its {MARKER} is unreadable; choose another output path")
        if found != kind:
            raise OutputError(
                f"{path}: holds a polyalign {found} output, not a {kind}; choose another output path"
            )
        if not (overwrite or resume):
            raise OutputError(f"{path}: holds a previous polyalign {kind} output; {hint}")
    kept = bool(entries) and not overwrite
    if not create:
        probe_writable(path)
        return kept
    if entries and overwrite:
        old = _staging_path(path, "old")
        os.replace(path, old)
        _remove(old)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{path}: cannot create the output folder ({e.strerror or e})") from None
    if output_kind(path) != kind:
        write_marker(path, kind)
    return kept


def prepare_output_file(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Check that a single output file (``embed --out x.npy``, a PNG) may be written: a file cannot
    carry polyalign's marker, so an existing one is replaced only with ``overwrite`` — whoever wrote
    it. A folder at the path, or an unwritable location, is refused with one line."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file path")
    if path.exists() and not overwrite:
        raise OutputError(f"{path}: exists; pass --overwrite to replace it, or choose another path")
    probe_writable(path)
    return path


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

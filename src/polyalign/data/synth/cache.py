"""Content-addressed translation cache (SQLite).

Key = SHA-256 of (source sentence, backend, model id, target language, options). Each batch is
stored in one transaction as soon as it is translated, so a killed run resumes where it stopped and
nothing is translated twice; several processes may share one cache file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

from ...errors import ConfigError

CACHE_FILE = "translations.sqlite"


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("polyalign")) / "mt"


def cache_key(source: str, backend: str, model_id: str, tgt: str, options: dict | None = None) -> str:
    blob = json.dumps([source, backend, model_id, tgt, options or {}], ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


class TranslationCache:
    """``TranslationCache(dir)`` keeps ``dir/translations.sqlite``; ``TranslationCache(None)`` lives
    in memory only (``--no-cache``)."""

    def __init__(self, cache_dir: str | os.PathLike | None = None):
        if cache_dir is None:
            self.path = None
            target = ":memory:"
        else:
            d = Path(cache_dir).expanduser()
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigError(f"cannot create cache folder {d}: {e}") from None
            self.path = d / CACHE_FILE
            target = str(self.path)
        self.conn = sqlite3.connect(target, timeout=60, isolation_level=None, check_same_thread=False)
        if self.path is not None:
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("CREATE TABLE IF NOT EXISTS mt (key TEXT PRIMARY KEY, output TEXT NOT NULL)")

    def get_many(self, keys: list[str], chunk: int = 500) -> dict[str, str]:
        found: dict[str, str] = {}
        for i in range(0, len(keys), chunk):
            part = keys[i : i + chunk]
            marks = ",".join("?" * len(part))
            found.update(
                self.conn.execute(f"SELECT key, output FROM mt WHERE key IN ({marks})", part).fetchall()
            )
        return found

    def put_many(self, items: list[tuple[str, str]]) -> None:
        """All or nothing: one transaction per call."""
        if not items:
            return
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            self.conn.executemany("INSERT OR REPLACE INTO mt (key, output) VALUES (?, ?)", items)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def __len__(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM mt").fetchone()[0]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

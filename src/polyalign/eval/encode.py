"""Encoding for evaluation: length-sorted batches, an in-memory text memo and an on-disk cache.

:class:`Encoder` wraps any model with an ``encode(list[str]) -> array`` method (a
``SentenceTransformer`` above all) and returns L2-normalised ``float32`` numpy arrays.

* Texts are de-duplicated in memory (FLORES sentences used by many language pairs, SIB-200 texts
  that are FLORES sentences, repeated Tatoeba English sides) and encoded once per process.
* With a ``key`` (e.g. ``"flores200/devtest/deu_Latn"``) the result is also cached on disk under
  ``<cache_dir>/<model fingerprint>/``; the file name hashes the key, the prompt and the texts, so a
  changed data file or prompt never reuses a stale cache. The model fingerprint is the model's
  name/path plus a hash of a few weight tensors, so a fine-tuned model never reuses its base model's
  embeddings. Writes are atomic.
* The prompt is ``None`` for "the model's default" (a SentenceTransformer's ``default_prompt_name``,
  e.g. E5's ``"query: "``), ``""`` for none, or an explicit string; :attr:`Encoder.prompt` is the
  prompt actually applied, recorded in every result row.
* ``backend="onnx"`` runs the model's transformer in ONNX Runtime (:mod:`.onnx_backend`); its
  embeddings are cached apart from torch's (the backend is part of the fingerprint).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from pathlib import Path

import numpy as np

from .. import console
from ..errors import ConfigError, OutputError
from ..io import atomic_path

log = logging.getLogger(__name__)

CACHE_ENV = "POLYALIGN_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$POLYALIGN_CACHE_DIR/embeddings`` else the user cache folder (``~/.cache/polyalign/embeddings``)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser() / "embeddings"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("polyalign")) / "embeddings"


def _is_sentence_transformer(model) -> bool:
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError:  # pragma: no cover - it is a hard dependency
        return False
    return isinstance(model, SentenceTransformer)


def model_name(model) -> str:
    """A readable name for a model: an explicit ``polyalign_name``, else its path / hub id."""
    for attr in ("polyalign_name", "name_or_path", "model_name"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    card = getattr(model, "model_card_data", None)
    base = getattr(card, "base_model", None) if card is not None else None
    if isinstance(base, str) and base:
        return base
    try:
        first = model[0]
        path = getattr(getattr(first, "auto_model", None), "name_or_path", None) or getattr(
            getattr(getattr(first, "auto_model", None), "config", None), "_name_or_path", None
        )
        if path:
            return str(path)
    except Exception:  # noqa: BLE001 - best effort for arbitrary objects
        pass
    return type(model).__name__


def model_fingerprint(model, n_tensors: int = 6, max_values: int = 4096) -> str:
    """Name/path + a hash of up to ``n_tensors`` weight tensors (first, last and evenly in between,
    ``max_values`` values of each) + the module layout. Two models that differ in weights, pooling or
    max length get different fingerprints; it takes milliseconds."""
    h = hashlib.sha256()
    h.update(model_name(model).encode())
    h.update(repr(model).encode())  # module layout: pooling mode, normalisation
    # The token limit, explicitly: sentence-transformers >= 5 no longer prints it in repr(), and an
    # embedding computed at 64 tokens must never be served for an evaluation at 512.
    h.update(f"max_seq_length={getattr(model, 'max_seq_length', None)}".encode())
    extra = getattr(model, "polyalign_fingerprint", None)
    if extra:
        h.update(str(extra).encode())
    state = None
    if hasattr(model, "state_dict"):
        try:
            state = model.state_dict()
        except Exception:  # noqa: BLE001
            state = None
    if state:
        names = [n for n, t in state.items() if hasattr(t, "numel") and t.numel() > 0]
        if names:
            idx = sorted({round(i * (len(names) - 1) / max(1, n_tensors - 1)) for i in range(n_tensors)})
            for i in idx:
                tensor = state[names[i]].detach().reshape(-1)[:max_values].cpu()
                h.update(names[i].encode())
                h.update(str(tuple(state[names[i]].shape)).encode())
                try:
                    h.update(tensor.float().numpy().tobytes())
                except (TypeError, RuntimeError):  # exotic dtypes: hash their text form
                    h.update(str(tensor.tolist()).encode())
    return h.hexdigest()[:20]


def default_prompt(model) -> str | None:
    """The prompt a SentenceTransformer applies by itself (its ``default_prompt_name``), if any."""
    name = getattr(model, "default_prompt_name", None)
    prompts = getattr(model, "prompts", None) or {}
    if name and name in prompts:
        return prompts[name] or None
    return None


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def _safe(key: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_")[:80] or "data"


class Encoder:
    """Encode texts with ``model`` (cached, de-duplicated, length-sorted, normalised).

    ``cache_dir=None`` uses :func:`default_cache_dir`; ``use_cache=False`` disables the disk cache
    (the in-memory memo stays). ``memo_limit`` bounds the number of memoised texts (the memo is
    cleared when it is exceeded). ``backend``: ``"torch"`` (the model's own ``encode``) or ``"onnx"``
    (a SentenceTransformer's transformer in ONNX Runtime, float32; see :mod:`.onnx_backend`).
    """

    def __init__(
        self,
        model,
        prompt: str | None = None,
        batch_size: int = 32,
        cache_dir: str | os.PathLike | None = None,
        use_cache: bool = True,
        chunk_size: int = 2048,
        show_progress: bool | None = None,
        memo_limit: int = 400_000,
        name: str | None = None,
        backend: str = "torch",
    ):
        from .onnx_backend import BACKENDS

        if backend not in BACKENDS:
            raise ConfigError(f"unknown encoding backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, not {batch_size}")
        if not (hasattr(model, "encode") or callable(model)):
            raise ConfigError("model must have an encode(texts) method or be callable")
        self.model = model
        self.explicit_prompt = prompt
        self.is_st = _is_sentence_transformer(model)
        if backend != "torch" and not self.is_st:
            raise ConfigError(f"backend {backend!r} needs a sentence-transformers model")
        self.backend = backend
        self._onnx = None  # built on first use: exporting takes seconds
        self.prompt = (prompt or None) if prompt is not None else default_prompt(model)
        self.batch_size = batch_size
        self.use_cache = use_cache
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
        self.chunk_size = chunk_size
        self.show_progress = console.show_progress() if show_progress is None else show_progress
        self.memo_limit = memo_limit
        self.name = name or model_name(model)
        self._fingerprint: str | None = None
        self._limit = getattr(model, "max_seq_length", None)  # what the memo and fingerprint hold
        self._memo: dict[str, np.ndarray] = {}
        self.n_encoded = 0  # texts actually sent through the model
        self.encode_seconds = 0.0
        self.cache_hits = 0

    # -- identity -----------------------------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        self._check_limit()
        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(self.model)
            if self.backend != "torch":  # close to torch's embeddings, but not the same numbers
                self._fingerprint = hashlib.sha256(
                    f"{self._fingerprint}:{self.backend}".encode()
                ).hexdigest()[:20]
        return self._fingerprint

    @property
    def sentences_per_second(self) -> float:
        return self.n_encoded / self.encode_seconds if self.encode_seconds > 0 else float("nan")

    # -- disk cache ---------------------------------------------------------------------------------
    def _cache_path(self, key: str, texts: list[str]) -> Path:
        h = hashlib.sha256()
        h.update(key.encode())
        h.update(b"\0prompt\0" + (self.prompt or "").encode())
        for t in texts:
            h.update(t.encode("utf-8", "surrogatepass") + b"\n")
        return self.cache_dir / self.fingerprint / f"{_safe(key)}-{h.hexdigest()[:16]}.npy"

    def _load_cached(self, path: Path, n: int) -> np.ndarray | None:
        if not path.is_file():
            return None
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            log.warning("ignoring unreadable embedding cache %s (%s)", path, e)
            return None
        if arr.ndim != 2 or arr.shape[0] != n:
            log.warning("ignoring embedding cache %s of shape %s (expected %d rows)", path, arr.shape, n)
            return None
        return arr.astype(np.float32, copy=False)

    def _save_cached(self, path: Path, arr: np.ndarray) -> None:
        try:
            with atomic_path(path) as tmp, open(tmp, "wb") as f:
                np.save(f, arr, allow_pickle=False)
        except (OSError, OutputError) as e:  # a read-only cache must not break an evaluation
            log.warning("could not write embedding cache %s (%s)", path, e)

    # -- encoding -----------------------------------------------------------------------------------
    def _model_encode(self, texts: list[str]) -> np.ndarray:
        if self.backend == "onnx":
            if self._onnx is None:
                from .onnx_backend import OnnxTransformer

                self._onnx = OnnxTransformer(self.model)
            out = self._onnx.encode(texts, batch_size=self.batch_size, prompt=self.prompt)
        elif self.is_st:
            kwargs = {}
            if self.explicit_prompt is not None:
                kwargs["prompt"] = self.explicit_prompt  # "" disables the model's default prompt
            out = self.model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                show_progress_bar=False,
                normalize_embeddings=False,
                **kwargs,
            )
        else:
            inputs = [self.prompt + t for t in texts] if self.prompt and self.explicit_prompt else texts
            fn = self.model.encode if hasattr(self.model, "encode") else self.model
            out = fn(inputs)
        if hasattr(out, "detach"):
            out = out.detach().float().cpu().numpy()
        out = np.asarray(out, dtype=np.float32)
        if out.ndim != 2 or out.shape[0] != len(texts):
            raise ConfigError(f"model returned embeddings of shape {out.shape} for {len(texts)} texts")
        return out

    def _check_limit(self) -> None:
        """The model's token limit changed (``evaluate(max_seq_length=…)``): embeddings memoised and
        the fingerprint computed at the old limit must not be served any more."""
        limit = getattr(self.model, "max_seq_length", None)
        if limit != self._limit:
            self._limit, self._fingerprint, self._memo = limit, None, {}

    def _encode_new(self, texts: list[str]) -> None:
        """Encode texts not yet memoised, longest first, in chunks (progress + speed logging)."""
        todo = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if not todo:
            return
        if len(self._memo) + len(todo) > self.memo_limit:
            # Forget other calls' texts, never this call's: they are read back below.
            current = set(texts)
            self._memo = {t: v for t, v in self._memo.items() if t in current}
        todo.sort(key=len, reverse=True)
        from tqdm.auto import tqdm

        start = time.perf_counter()
        with tqdm(
            total=len(todo), desc="encoding", unit="sent", disable=not self.show_progress, leave=False
        ) as bar:
            for i in range(0, len(todo), self.chunk_size):
                chunk = todo[i : i + self.chunk_size]
                emb = normalize(self._model_encode(chunk))
                for t, v in zip(chunk, emb):
                    self._memo[t] = v
                bar.update(len(chunk))
        elapsed = time.perf_counter() - start
        self.n_encoded += len(todo)
        self.encode_seconds += elapsed
        log.log(
            logging.INFO if len(todo) >= 1000 else logging.DEBUG,  # a few sentences are not news
            "encoded %d sentences in %.1f s (%.0f sentences/s)",
            len(todo),
            elapsed,
            len(todo) / elapsed if elapsed > 0 else float("inf"),
        )

    def encode(self, texts: list[str], key: str | None = None) -> np.ndarray:
        """``(len(texts), dim)`` float32, L2-normalised; cached on disk under ``key`` if given."""
        self._check_limit()
        texts = list(texts)
        path = None
        if key is not None and self.use_cache and texts:
            path = self._cache_path(key, texts)
            cached = self._load_cached(path, len(texts))
            if cached is not None:
                self.cache_hits += 1
                log.debug("embedding cache hit %s", path)
                return cached
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        self._encode_new(texts)
        arr = np.stack([self._memo[t] for t in texts]).astype(np.float32, copy=False)
        if path is not None:
            self._save_cached(path, arr)
        return arr

    def __call__(self, texts: list[str], key: str | None = None) -> np.ndarray:
        return self.encode(texts, key)


def as_encoder(model, **kwargs) -> Encoder:
    """Pass an :class:`Encoder` through; wrap anything else."""
    if isinstance(model, Encoder):
        return model
    return Encoder(model, **kwargs)

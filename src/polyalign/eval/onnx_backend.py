"""ONNX Runtime backend for evaluation encoding (``polyalign eval --backend onnx``).

Only the transformer of a sentence-transformers model runs in ONNX Runtime; tokenisation (with the
prompt and the token limit), pooling, any dense layer and normalisation stay sentence-transformers'
own modules, so the backend changes arithmetic, not the protocol. The transformer is exported once
per model (float32, never quantised), its graph fused by onnxruntime's transformer optimiser
(attention, LayerNorm, GELU) and cached under ``<cache>/onnx/<hash of every weight>/``; the hash
covers all weights, so a fine-tuned model never runs its base model's graph.

Embeddings agree with torch to ~1e-5 (cosine); ``tests/test_eval_speed.py`` checks every quick-suite
score against the torch path. Needs ``pip install polyalign[onnx]`` (onnxruntime + onnx).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io import atomic_path

log = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx")
EXPORT_VERSION = 1  # bump when the exported graph changes (inputs, opset, fusion options)
OPSET = 17
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def default_onnx_dir() -> Path:
    """``$POLYALIGN_CACHE_DIR/onnx`` else ``~/.cache/polyalign/onnx``."""
    from .encode import CACHE_ENV

    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser() / "onnx"
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("polyalign")) / "onnx"


def _require_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise ConfigError(
            "--backend onnx needs onnxruntime and onnx: pip install 'polyalign[onnx]'"
        ) from None
    return onnxruntime


def _hf_model(st):
    """The Hugging Face model inside the first module of a SentenceTransformer (or None)."""
    try:
        first = st[0]
    except (TypeError, IndexError, KeyError):
        return None
    hf = getattr(first, "model", None) or getattr(first, "auto_model", None)
    return hf if hf is not None and hasattr(hf, "config") else None


def _weights_hash(hf) -> str:
    h = hashlib.sha256(f"v{EXPORT_VERSION} opset{OPSET} {type(hf).__name__}".encode())
    for name, tensor in hf.state_dict().items():
        h.update(name.encode() + str(tuple(tensor.shape)).encode() + str(tensor.dtype).encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(-1).numpy().tobytes())
    return h.hexdigest()[:20]


class _LastHidden:
    """``forward(input_ids, attention_mask[, token_type_ids]) -> last_hidden_state`` for the exporter."""

    def __new__(cls, hf, names):
        import torch

        class Wrap(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.hf = hf

            def forward(self, *args):
                out = self.hf(**dict(zip(names, args)), return_dict=True)
                return out.last_hidden_state

        return Wrap().eval()


def export_onnx(st, path: Path, names: list[str]) -> None:
    """Export ``st``'s transformer to ``path`` (float32; dynamic batch and sequence axes), then fuse it."""
    import torch

    hf = _hf_model(st)
    sample = st.preprocess(["a short one", "and a somewhat longer second sentence, padded"], prompt=None)
    args = tuple(sample[n] for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["token_embeddings"] = {0: "batch", 1: "sequence"}
    # torch >= 2.5 defaults to (or offers) the dynamo exporter; the TorchScript one needs no
    # onnxscript and gives the graph onnxruntime's BERT fuser knows. The model's own attention (SDPA)
    # is exported as it is: exporting eager attention let the fuser make one Attention op per layer,
    # but its rounding flipped a near-tie in the quick suite (1 xsim point on the tiny model).
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    was_training = hf.training  # the export needs eval mode (no dropout); give the caller's mode back
    try:
        with atomic_path(path.parent, is_dir=True) as tmp, warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            raw = tmp / "raw.onnx"
            torch.onnx.export(
                _LastHidden(hf, names),
                args,
                str(raw),
                input_names=list(names),
                output_names=["token_embeddings"],
                dynamic_axes=axes,
                opset_version=OPSET,
                **legacy,
            )
            _fuse(raw, tmp / path.name, hf.config)
            raw.unlink()
    finally:
        hf.train(was_training)


def _fuse(src: Path, dst: Path, config) -> None:
    """onnxruntime's BERT fusions in float32 (no float16 conversion, no quantisation)."""
    from onnxruntime.transformers.optimizer import optimize_model

    heads = getattr(config, "num_attention_heads", 0) or 0
    hidden = getattr(config, "hidden_size", 0) or 0
    opt = optimize_model(str(src), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1)
    opt.save_model_to_file(str(dst))


class OnnxTransformer:
    """Runs ``st``'s transformer in ONNX Runtime; ``encode`` mirrors ``SentenceTransformer.encode``.

    ``threads`` defaults to torch's thread count (so ``--threads`` applies to both backends).
    """

    def __init__(self, st, cache_dir: str | os.PathLike | None = None, threads: int | None = None):
        ort = _require_onnxruntime()
        hf = _hf_model(st)
        if not hasattr(st, "preprocess"):
            raise ConfigError(
                "--backend onnx needs sentence-transformers >= 6 (SentenceTransformer.preprocess)"
            )
        if hf is None:
            raise ConfigError(
                "--backend onnx needs a sentence-transformers model whose first module is a Transformer"
            )
        import torch

        if any(t.device.type != "cpu" for t in hf.parameters()):
            raise ConfigError("--backend onnx runs on the CPU; load the model with --device cpu")
        self.st = st
        sample = st.preprocess(["x"], prompt=None)
        self.names = [n for n in _INPUTS if n in sample]
        if "input_ids" not in self.names:
            raise ConfigError("--backend onnx: the model's tokenizer gives no input_ids")
        folder = Path(cache_dir).expanduser() if cache_dir else default_onnx_dir()
        self.path = folder / _weights_hash(hf) / "model.onnx"
        if not self.path.is_file():
            log.info("exporting the transformer to ONNX at %s (once per model)", self.path)
            export_onnx(st, self.path, self.names)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        self.output_name = "token_embeddings"

    def encode(self, texts: list[str], batch_size: int = 32, prompt: str | None = None) -> np.ndarray:
        """Un-normalised sentence embeddings of ``texts`` (what the model's own modules output), in order."""
        import torch

        order = np.argsort([-len(t) for t in texts], kind="stable")  # as sentence-transformers: longest first
        out: list[np.ndarray] = [None] * len(texts)  # type: ignore[list-item]
        modules = list(self.st)[1:]
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                idx = order[start : start + batch_size]
                features = self.st.preprocess([texts[i] for i in idx], prompt=prompt)
                feed = {n: features[n].numpy().astype(np.int64, copy=False) for n in self.names}
                (hidden,) = self.session.run([self.output_name], feed)
                features["token_embeddings"] = torch.from_numpy(hidden)
                for module in modules:
                    features = module(features)
                emb = features["sentence_embedding"].float().numpy()
                for i, row in zip(idx, emb):
                    out[i] = row
        return np.stack(out) if out else np.zeros((0, 0), dtype=np.float32)

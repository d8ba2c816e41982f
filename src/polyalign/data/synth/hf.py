"""Hugging Face seq2seq MT (NLLB-200, M2M100, MarianMT, MADLAD-400, ...) via ``transformers``.

How the target language is chosen is read off the tokenizer's vocabulary:

- ``nllb``: FLORES-style codes (``deu_Latn``); source via ``tokenizer.src_lang``, target via
  ``forced_bos_token_id``;
- ``m2m``: ``__de__`` tokens (M2M100); same mechanism with ISO codes;
- ``marian-multi``: ``>>de<<`` tokens (multi-target OPUS-MT models); the tag is prefixed to the input;
- ``madlad``: ``<2de>`` tokens (MADLAD-400, T5 style); the tag is prefixed to the input;
- ``fixed``: one target per model (``opus-mt-en-de``); the language comes from ``target=`` or the
  model name.

A local folder is loaded with ``local_files_only`` (never downloads); anything else is a hub id.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from ...errors import ConfigError, UnknownLanguageError
from ..readers import resolve_code
from .base import fingerprint_dir

log = logging.getLogger(__name__)

_SCHEMES = [
    ("nllb", re.compile(r"^([a-z]{3}_[A-Z][a-z]{3})$"), 2),
    ("m2m", re.compile(r"^__([a-z]{2,3}(?:_[A-Za-z]+)?)__$"), 2),
    ("marian-multi", re.compile(r"^>>([A-Za-z_]{2,8})<<$"), 1),
    ("madlad", re.compile(r"^<2([A-Za-z_-]{2,12})>$"), 2),
]


def detect_scheme(vocab) -> tuple[str, dict[str, str]]:
    """(scheme, {code: token}) from a tokenizer vocabulary (any iterable of token strings)."""
    tokens = list(vocab)
    for scheme, pattern, minimum in _SCHEMES:
        codes = {}
        for tok in tokens:
            m = pattern.match(tok)
            if m:
                codes[m.group(1)] = tok
        if len(codes) >= minimum:
            return scheme, codes
    return "fixed", {}


def _guess_fixed_target(name: str) -> str | None:
    m = re.search(r"opus-mt-(?:tc-big-)?([a-z]{2,3})-([a-z]{2,3})$", Path(str(name).rstrip("/")).name)
    return m.group(2) if m else None


class HFTranslator:
    """A ``transformers`` seq2seq model. ``target`` fixes the language of a one-pair model."""

    name = "hf"
    default_batch_size = 16

    def __init__(
        self,
        model: str | os.PathLike,
        *,
        src_lang: str = "en",
        target: str | None = None,
        beam_size: int = 4,
        max_length: int = 256,
        batch_size: int = 16,
        device: str | None = None,
        dtype: str | None = None,
        trust_remote_code: bool = False,
    ):
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        if beam_size < 1 or max_length < 1 or batch_size < 1:
            raise ConfigError("beam size, max length and batch size must be positive")
        name = str(model)
        path = Path(name).expanduser()
        local = path.exists()
        if not local:
            from ...models.hub import check_hub_name

            check_hub_name(name, what="MT model")
        kwargs = {"trust_remote_code": trust_remote_code}
        if local:
            kwargs["local_files_only"] = True
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = _dtype(dtype, self.device)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path) if local else name, **kwargs)
            self.model = AutoModelForSeq2SeqLM.from_pretrained(
                str(path) if local else name, dtype=torch_dtype, **kwargs
            )
        except (OSError, ValueError) as e:
            raise ConfigError(f"could not load MT model {name!r}: {e}") from None
        self.model.to(self.device).eval()
        self.scheme, self.codes = detect_scheme(self.tokenizer.get_vocab())
        if self.scheme == "fixed":
            tgt = target or _guess_fixed_target(name)
            if not tgt:
                raise ConfigError(
                    f"{name}: cannot tell the target language of this model (no language tokens); "
                    "pass it as LANG=MODEL (CLI) or target= (API)"
                )
            self.codes = {tgt: ""}
        self.src_code = None
        if self.scheme in ("nllb", "m2m"):
            self.src_code = resolve_code(src_lang, self.codes, where=f"{name} languages")
            self.tokenizer.src_lang = self.src_code
        self.beam_size, self.max_length, self.batch_size = beam_size, max_length, batch_size
        self.default_batch_size = batch_size
        commit = getattr(self.model.config, "_commit_hash", None)
        self.model_id = (
            f"{path.name if local else name}@{fingerprint_dir(path) if local else (commit or 'hub')}"
        )
        self.options = {
            "beam_size": beam_size,
            "max_length": max_length,
            "src": src_lang,
            "dtype": str(torch_dtype).replace("torch.", ""),
        }
        self.generate_calls = 0

    def supported_targets(self) -> list[str]:
        return sorted(self.codes)

    def resolve_target(self, lang: str) -> str:
        try:
            return resolve_code(lang, self.codes, where=f"{self.model_id} ({self.scheme})")
        except UnknownLanguageError:
            if self.scheme == "fixed":
                raise UnknownLanguageError(
                    lang,
                    list(self.codes),
                    f"{self.model_id} (one target per model; give one model per language as LANG=MODEL)",
                ) from None
            raise

    def translate(self, texts: list[str], tgt: str) -> list[str]:
        """Batched beam search; batches are sorted by length (then text, so batch contents don't
        depend on input order) and outputs are put back in input order."""
        import torch

        if tgt not in self.codes:
            tgt = self.resolve_target(tgt)
        token = self.codes[tgt]
        prefix = f"{token} " if self.scheme in ("marian-multi", "madlad") else ""
        gen_kwargs = {"num_beams": self.beam_size, "max_new_tokens": self.max_length}
        if self.scheme in ("nllb", "m2m"):
            gen_kwargs["forced_bos_token_id"] = self.tokenizer.convert_tokens_to_ids(token)
        if self.beam_size == 1:
            gen_kwargs["do_sample"] = False
        order = sorted(range(len(texts)), key=lambda i: (len(texts[i]), texts[i]))
        out: list[str | None] = [None] * len(texts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            enc = self.tokenizer(
                [prefix + texts[i] for i in idx],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_length,
            )
            enc.pop("token_type_ids", None)
            enc = {k: v.to(self.device) for k, v in enc.items()}
            with torch.inference_mode():
                ids = self.model.generate(**enc, **gen_kwargs)
            self.generate_calls += 1
            decoded = self.tokenizer.batch_decode(ids, skip_special_tokens=True)
            for i, text in zip(idx, decoded):
                out[i] = " ".join(text.split())
        return out  # type: ignore[return-value]


def _dtype(dtype: str | None, device: str):
    import torch

    if dtype in (None, "auto"):
        if str(device).startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    try:
        return {
            "float32": torch.float32,
            "fp32": torch.float32,
            "float16": torch.float16,
            "fp16": torch.float16,
            "bfloat16": torch.bfloat16,
            "bf16": torch.bfloat16,
        }[dtype]
    except KeyError:
        raise ConfigError(f"unknown dtype {dtype!r}; choose auto, float32, float16 or bfloat16") from None

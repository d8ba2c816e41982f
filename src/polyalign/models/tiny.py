"""A tiny randomly initialised encoder built in-process, for tests and CPU benchmarks.

Byte-level tokenizer (any script, no download) + a small BERT; the result is a regular
sentence-transformers model, so every code path that accepts a real encoder accepts this one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def build_tiny_tokenizer(path: str | Path):
    """Byte-level BPE without merges: 256 byte tokens + BERT-style specials, saved to ``path``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(specials + sorted(alphabet))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )
    fast.save_pretrained(str(path))
    return fast


def build_tiny_encoder(
    path: str | Path | None = None,
    *,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    intermediate: int = 64,
    pooling: str = "mean",
    seed: int = 0,
    max_seq_length: int = 64,
    dropout: float = 0.1,
):
    """A ``SentenceTransformer`` with a random ``hidden``-dim BERT; saved under ``path`` (or a temp dir)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers import models as st_models
    from transformers import BertConfig, BertModel

    path = Path(path or tempfile.mkdtemp(prefix="polyalign-tiny-"))
    backbone = path / "backbone"
    tokenizer = build_tiny_tokenizer(backbone)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        max_position_embeddings=max(128, max_seq_length + 2),
        pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=dropout,
        attention_probs_dropout_prob=dropout,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(backbone))
    transformer = st_models.Transformer(str(backbone), max_seq_length=max_seq_length)
    pool = st_models.Pooling(hidden, pooling_mode=pooling)
    return SentenceTransformer(modules=[transformer, pool], device="cpu")


def build_model_of_shape(config, pooling: str = "mean", max_seq_length: int = 64, seed: int = 0):
    """A randomly initialised encoder with a given ``transformers`` config (e.g. XLM-R-base's shape),
    with the byte-level tokenizer; for speed benchmarks where weights don't matter."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers import models as st_models
    from transformers import AutoModel

    path = Path(tempfile.mkdtemp(prefix="polyalign-shape-"))
    build_tiny_tokenizer(path)
    torch.manual_seed(seed)
    AutoModel.from_config(config).save_pretrained(str(path))
    transformer = st_models.Transformer(str(path), max_seq_length=max_seq_length)
    pool = st_models.Pooling(config.hidden_size, pooling_mode=pooling)
    return SentenceTransformer(modules=[transformer, pool], device="cpu")

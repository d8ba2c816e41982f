"""Data layer: readers, groups, views, filters, and every bad input named in the foundation issue."""

from __future__ import annotations

import json

import pytest

from polyalign.cli import main
from polyalign.data import readers
from polyalign.data.build import build_corpus, load_corpus, load_meta, save_corpus
from polyalign.data.groups import (
    GROUP_ID,
    filter_groups,
    group_languages,
    groups_from_aligned,
    groups_from_rows,
    pivot_join,
)
from polyalign.data.views import english_centric_pairs, parallel_pairs
from polyalign.errors import DataError, UnknownLanguageError
from polyalign.io import read_lines, resolve_data_dir


def _write(path, lines, raw=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(raw if raw is not None else ("\n".join(lines) + "\n").encode())
    return path


@pytest.fixture
def tiny_flores(tmp_path):
    root = tmp_path / "data" / "flores200" / "dev"
    _write(root / "eng_Latn.dev", ["One.", "Two.", "Three.", "Four."])
    _write(root / "deu_Latn.dev", ["Eins.", "Zwei.", "Drei.", "Vier."])
    _write(root / "zho_Hans.dev", ["一。", "二。", "三。", "四。"])
    _write(root / "rus_Cyrl.dev", ["Один.", "Два.", "Три.", "Четыре."])
    _write(root / "fra_Latn.dev", ["Un.", "Deux.", "Trois.", "Quatre."])
    return tmp_path / "data"


def test_parallel_folder_resolves_codes(tiny_flores):
    texts = readers.read_flores(tiny_flores, "dev", ["en", "de", "zh"])
    assert list(texts) == ["eng_Latn", "deu_Latn", "zho_Hans"]
    assert texts["zho_Hans"][2] == "三。"


def test_misaligned_files_named(tiny_flores):
    _write(tiny_flores / "flores200" / "dev" / "fra_Latn.dev", ["Un.", "Deux."])
    with pytest.raises(DataError, match=r"fra_Latn\.dev.*2 lines.*not line-aligned"):
        readers.read_flores(tiny_flores, "dev", ["en", "fr"])


def test_invalid_utf8_names_file_and_line(tmp_path):
    p = _write(tmp_path / "x.txt", [], raw=b"fine\nalso fine\nbad \xc3\x28 here\n")
    with pytest.raises(DataError, match=r"x\.txt:3: invalid UTF-8"):
        read_lines(p)


def test_unknown_language_lists_available(tiny_flores):
    with pytest.raises(UnknownLanguageError, match=r"unknown language 'xx'.*available: deu_Latn"):
        readers.read_flores(tiny_flores, "dev", ["en", "xx"])


def test_missing_data_folder_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("POLYALIGN_DATA_DIR", raising=False)
    with pytest.raises(DataError, match=r"--data-dir.*POLYALIGN_DATA_DIR"):
        resolve_data_dir(tmp_path / "absent")


def test_groups_views_and_filters(tiny_flores):
    texts = readers.read_flores(tiny_flores, "dev", ["en", "de", "fr", "ru", "zh"])
    texts["deu_Latn"][1] = "   "  # whitespace-only becomes a missing translation
    texts["fra_Latn"][3] = "Un."  # duplicate of line 0 in French
    groups = groups_from_aligned(texts, prefix="t")
    clean, report = filter_groups(groups, min_langs=2)
    assert report.removed["empty"] == 1 and report.removed["duplicate"] == 1
    assert clean[1]["deu_Latn"] is None and clean[3]["fra_Latn"] is None

    pairs = parallel_pairs(clean, seed=1)
    # ⌊K/2⌋ disjoint pairs: K=5 → 2 pairs; K=4 → 2 pairs. Every sentence at most once.
    assert len(pairs) == 8
    for gid in clean[GROUP_ID]:
        rows = pairs.filter(lambda r, g=gid: r[GROUP_ID] == g)
        langs = list(rows["lang_a"]) + list(rows["lang_b"])
        assert len(langs) == len(set(langs))

    enx = english_centric_pairs(clean, pivot="eng_Latn")
    assert set(enx["lang_a"]) == {"eng_Latn"}
    assert len(enx) == sum(sum(r[lang] is not None for lang in group_languages(clean)) - 1 for r in clean)


def test_en_x1_pairs_each_english_sentence_once_with_one_of_its_languages():
    langs = ["en", "de", "fr", "es"]
    rows = [{GROUP_ID: f"g{i}", **{lang: f"{lang}{i}" for lang in langs}} for i in range(40)]
    rows[3]["fr"] = rows[3]["es"] = None  # a ragged group: only de is left to draw
    rows[5]["en"] = None  # no English: no pair
    rows[7] = {GROUP_ID: "g7", "en": "en7", "de": None, "fr": None, "es": None}  # English alone
    groups = groups_from_rows(rows, langs)
    one = english_centric_pairs(groups, pivot="en", per_group="one", seed=0)
    assert sorted(one["text_a"]) == sorted(f"en{i}" for i in range(40) if i not in (5, 7))
    assert set(one["lang_a"]) == {"en"}
    by_id = {r[GROUP_ID]: r for r in rows}
    for r in one:
        assert r["lang_b"] != "en" and by_id[r[GROUP_ID]][r["lang_b"]] == r["text_b"]
    assert one.filter(lambda r: r[GROUP_ID] == "g3")["lang_b"] == ["de"]
    # Seeded: the same seed draws the same X, another seed other ones; every language gets drawn.
    assert english_centric_pairs(groups, pivot="en", per_group="one", seed=0)["lang_b"] == one["lang_b"]
    assert english_centric_pairs(groups, pivot="en", per_group="one", seed=1)["lang_b"] != one["lang_b"]
    assert set(one["lang_b"]) == {"de", "fr", "es"}


def test_empty_after_filtering_is_an_error(tiny_flores):
    groups = groups_from_aligned(readers.read_flores(tiny_flores, "dev", ["en", "de"]))
    with pytest.raises(DataError, match="no groups left"):
        filter_groups(groups, min_langs=3)


def test_length_ratio_filter():
    groups = groups_from_aligned(
        {"en": ["short one", "fine"], "de": ["kurz" * 20, "gut"], "fr": ["court", "bien"]}
    )
    out, report = filter_groups(groups, max_length_ratio=3.0, ratio_reference="en")
    assert report.removed["length_ratio"] == 1 and out[0]["de"] is None


def test_pivot_join_through_identical_english():
    groups = pivot_join(
        {"de": [("Hello.", "Hallo."), ("Bye.", "Tschüss.")], "fr": [("Hello.", "Bonjour."), ("Yes.", "Oui.")]}
    )
    rows = {r["en"]: r for r in groups}
    assert rows["Hello."]["de"] == "Hallo." and rows["Hello."]["fr"] == "Bonjour."
    assert rows["Bye."]["fr"] is None and rows["Yes."]["de"] is None


def test_bitext_readers(tmp_path):
    tsv = _write(tmp_path / "a.tsv", ["Hello.\tHallo.", "", "Bye.\tTschüss."])
    assert readers.read_bitext(tsv, "en", "de") == [("Hello.", "Hallo."), ("Bye.", "Tschüss.")]
    jl = _write(tmp_path / "a.jsonl", [json.dumps({"en": "Hi", "fr": "Salut"}), "{broken"])
    with pytest.raises(DataError, match=r"a\.jsonl:2: invalid JSON"):
        readers.read_bitext(jl, "en", "fr")
    bad = _write(tmp_path / "b.tsv", ["only one column"])
    with pytest.raises(DataError, match=r"b\.tsv:1: expected two tab-separated columns"):
        readers.read_bitext(bad, "en", "de")


def test_build_save_is_atomic_and_loadable(tiny_flores, tmp_path):
    corpus, meta = build_corpus("flores", data_dir=tiny_flores, langs=["en", "de", "ru"], pivot="eng_Latn")
    out = save_corpus(corpus, tmp_path / "corpus", meta)
    again = load_corpus(out)
    assert set(again) == {"groups", "pairs", "en_x", "en_x1"} and len(again["groups"]) == 4
    assert load_meta(out)["counts"]["groups"] == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".corpus")]  # no temp left behind


def test_cli_bad_input_writes_nothing(tiny_flores, tmp_path, capsys):
    out = tmp_path / "never"
    rc = main(
        [
            "data",
            "build",
            "flores",
            "--data-dir",
            str(tiny_flores),
            "--langs",
            "en,klingon",
            "--out",
            str(out),
        ]
    )
    assert rc == 1 and not out.exists()
    assert "unknown language 'klingon'" in capsys.readouterr().err


@pytest.mark.data
def test_real_xnli_groups(data_dir, tmp_path, capsys):
    out = tmp_path / "xnli6"
    rc = main(
        [
            "data",
            "build",
            "xnli",
            "--data-dir",
            str(data_dir),
            "--langs",
            "en,de,fr,es,ru,zh",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    corpus = load_corpus(out)
    groups = corpus["groups"]
    assert 9_900 <= len(groups) <= 10_000
    assert group_languages(groups) == ["en", "de", "fr", "es", "ru", "zh"]
    # Parallel-structure view: 6-way groups give 3 pairs, so the same sentences are each seen once.
    assert abs(len(corpus["pairs"]) - 3 * len(groups)) < 50
    assert len(corpus["en_x"]) > 4.9 * len(groups)
    # Hard negatives: one contradiction per premise group (2490/3 + 5010/3 premises).
    assert 2_400 <= len(corpus["hard_negatives"]) <= 2_500
    premise = next(r for r in groups if r[GROUP_ID].endswith("p00000"))
    assert premise["en"] == "And he said, Mama, I'm home."
    printed = capsys.readouterr().out
    assert "groups=" in printed and "zh=" in printed


@pytest.mark.data
def test_real_tatoeba_and_flores_readers(data_dir):
    src, eng = readers.read_tatoeba_pair(data_dir, "de")
    assert len(src) == len(eng) == 1000
    texts = readers.read_flores(data_dir, "devtest", ["en", "zh", "ar"])
    assert list(texts) == ["eng_Latn", "zho_Hans", "arb_Arab"] and len(texts["eng_Latn"]) == 1012


def test_single_language_corpus_roundtrips(tmp_path):
    """English-only groups (the input of `polyalign synth`) have no pair views; they must still load."""
    from polyalign.data.build import make_views

    groups = groups_from_aligned({"en": ["One.", "Two."]})
    out = save_corpus(make_views(groups), tmp_path / "en_only")
    assert set(load_corpus(out)) == {"groups"}

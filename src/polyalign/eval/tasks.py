"""The task registry and the named suites.

A task is named by a string ``NAME[:ARG]``:

=================  ======================================================================================
``tatoeba``        Tatoeba xxx<->eng retrieval accuracy. ARG: languages (``deu,fra``) or a named set
                   (``tatoeba14``, ``tatoeba36``, ``tatoeba112``); ``tatoeba14`` etc. also work as names.
                   ``accuracy`` is XTREME's direction: each English sentence retrieves its xxx
                   translation (eng -> xxx); ``accuracy_xx2en`` and ``accuracy_mean_both`` are extra rows.
``flores-xsim``    FLORES-200 **devtest** xsim error rate (LASER's definition, see :mod:`.bitext`). ARG
                   items: ``deu`` (deu->eng) or ``deu-fra`` (any pair), or ``all`` (every language ->
                   English). ``xsim_error`` is src -> tgt (LASER reports xxx -> eng); the other direction
                   is the row ``xsim_error_tgt2src``.
``flores-dev-xsim`` the same on FLORES **dev** (for model selection; never report it as a test score).
``sts17-semeval``  The official SemEval-2017 Task 1 tracks. ARG: ``ar-ar,ar-en,es-es,es-en,es-en-4b,en-en``.
                   Not MTEB's ``STS17`` (11 subsets, 6 of them not usable here: ko-ko, en-de, fr-en,
                   it-en, nl-en, en-tr): the default 5 tracks' mean is not comparable with MTEB's.
``stsb``           STS-B multi-mt test, monolingual. ARG: languages (``de,fr``).
``stsb-x``         STS-B multi-mt test, cross-lingual. ARG: pairs ``en-de`` (sentence 1 in en, 2 in de);
                   a bare ``de`` means ``en-de``.
``sts-file``       ARG: a TSV/CSV path with sentence1, sentence2, score columns.
``sib200``         SIB-200 topic classification, trained and tested in each language. ARG: languages.
``sib200-x``       SIB-200 zero-shot cross-lingual: trained on eng_Latn, tested on each language.
``stsb-dev``       ``stsb`` on the **dev** split; likewise ``stsb-x-dev``, ``sib200-dev`` (fitted on train,
                   scored on dev) and ``sib200-x-dev``: for choosing settings, never as test scores.
``cls-file``       ARG: ``TRAIN,TEST`` — TSV/CSV files of text + label.
``bucc``           ARG: a folder with ``<src>-<tgt>.<split>.{<src>,<tgt>,gold}`` (see :mod:`.bitext`).
``bitext-dir``     ARG: a folder of line-aligned files, one per language, the code being the file name
                   without its last extension (``deu.txt``, ``zho_Hans.txt``). Every language to and
                   from the pivot (``--pivot``, default ``eng``) plus any ``--pairs``: Tatoeba-style
                   accuracy and xsim, subset ``<lang>-<pivot>``, headline direction lang -> pivot.
=================  ======================================================================================

A suffix ``@N`` caps every subset of a task at N sentence pairs: a seeded random sample of the lines
(the same lines in every language of a multi-way corpus); for FLORES the first N lines (whole
articles, which keeps hard same-topic candidates); for classification a seeded, label-stratified
sample of N test examples. E.g. ``tatoeba:deu,fra@200``.

``--langs`` (``langs=``): a bare task name takes its languages from it; tasks of a suite, or given
with an ARG, keep only the items whose languages are all in ``langs`` (English is always allowed as
the pivot side). Each result row lists the languages it involves; it is *seen* when every one of them
is a training language (so a pair is seen only if both sides are), unseen otherwise, and ``null``
when no training languages are given.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..data.readers import flores_languages, read_flores, read_tatoeba_pair, resolve_code, tatoeba_languages
from ..errors import ConfigError, DataError, UnknownLanguageError
from ..langs import canonical
from . import bitext, classification, sts

log = logging.getLogger(__name__)

TATOEBA14 = "ara bul deu ell fra hin rus spa swh tha tur urd vie cmn".split()
TATOEBA36 = (
    "ara heb vie ind jav tgl eus mal tel afr nld deu ell ben hin mar urd tam fra ita por spa bul rus "
    "jpn kat kor tha swh cmn kaz tur est fin hun pes"
).split()
TATOEBA_SETS = {"tatoeba14": TATOEBA14, "tatoeba36": TATOEBA36}

# FLORES languages of the quick suite: 10 high-resource + 10 lower-resource ones (where xsim has signal).
FLORES_QUICK = "deu fra spa rus zho ara hin jpn tur swh amh yor hau zul khm lao mya sin npi kan".split()
# The paper suite: the XTREME-36 languages + 12 lower-resource ones (mostly unseen in typical training).
FLORES_PAPER = TATOEBA36 + "amh hau yor zul som khm lao mya sin npi guj kan".split()
FLORES_NON_ENGLISH = ["deu-fra", "rus-zho", "spa-zho", "ara-hin", "jpn-kor", "fra-swh"]
SIB_QUICK = ["deu", "rus", "zho", "hin", "swh", "yor"]
SIB_PAPER = ["deu", "fra", "rus", "zho", "ara", "hin", "swh", "tur", "jpn", "yor", "amh", "khm"]
STSB_X_QUICK = ["en-de", "en-es", "en-fr", "en-ru", "en-zh"]

# quick: every task family at reduced sizes (@N, see above) so that a 2-core CPU runs it in about
# 3 minutes with me5-small-q4 (~9,000 sentences). Its scores are for fast comparisons between models,
# not for paper tables: retrieval among 100 candidates is easier than among 1000, and Spearman on 128
# pairs is noisy (about ±5).
SUITES: dict[str, list[str]] = {
    "quick": [
        "tatoeba:tatoeba14@100",
        "flores-xsim:" + ",".join(FLORES_QUICK) + "@100",
        "sts17-semeval",
        "stsb-x:" + ",".join(STSB_X_QUICK) + "@128",
        "sib200-x:" + ",".join(SIB_QUICK) + "@50",
    ],
    "paper": [
        "tatoeba:tatoeba36",
        "flores-xsim:" + ",".join(FLORES_PAPER + FLORES_NON_ENGLISH),
        "sts17-semeval",
        "stsb:" + ",".join(sts.STSB_LANGS),
        "stsb-x:" + ",".join(f"en-{x}" for x in sts.STSB_LANGS if x != "en") + ",de-fr,es-zh,ru-zh",
        "sib200:" + ",".join(SIB_PAPER + ["eng"]),
        "sib200-x:" + ",".join(FLORES_PAPER),
    ],
    "full": [
        "tatoeba:tatoeba112",
        "flores-xsim:all",
        "sts17-semeval:" + ",".join(sts.STS17_TRACKS),
        "stsb:" + ",".join(sts.STSB_LANGS),
        "stsb-x:" + ",".join(f"en-{x}" for x in sts.STSB_LANGS if x != "en"),
        "sib200:all",
        "sib200-x:all",
    ],
}


@dataclass
class EvalContext:
    """What every task needs: the encoder, the data folder and the protocol options."""

    encoder: object
    data_dir: Path
    k: int = 4
    n_experiments: int = classification.DEFAULT_EXPERIMENTS
    samples_per_label: int = classification.DEFAULT_SAMPLES_PER_LABEL
    seed: int = 42
    device: str | None = None
    bucc_backend: str = "torch"
    bucc_strategy: str = "max"
    max_sentences: int | None = None  # truncate every set (smoke tests); None = full sets
    pivot: str = "eng"  # bitext-dir: every language is scored to and from this one
    pairs: list[tuple[str, str]] = field(default_factory=list)  # bitext-dir: extra (src, tgt) pairs


def _row(subset: str, metric: str, value: float, langs: list[str], **extra) -> dict:
    return {"subset": subset, "metric": metric, "value": float(value), "langs": list(langs), **extra}


def _split_arg(arg: str | None) -> list[str]:
    return [a.strip() for a in (arg or "").split(",") if a.strip()]


def _sample(total: int, n: int | None) -> list[int] | None:
    """Indices of a seeded random sample of ``n`` of ``total`` lines, in file order (None: all).

    It depends only on (total, n), so multi-way parallel files get the same lines in every language.
    A random sample rather than the first n lines: some files are ordered (Tatoeba ara starts with a
    run of near-duplicates), which would bias a prefix."""
    if n is None or n >= total:
        return None
    return sorted(np.random.default_rng(0).choice(total, size=n, replace=False).tolist())


def _resolve_pair(a: str, b: str, available, where: str, task: str) -> tuple[str, str]:
    """A user's ``a-b`` pair as the corpus' codes; the two sides must be different languages."""
    pair = (resolve_code(a, available, where=where), resolve_code(b, available, where=where))
    if pair[0] == pair[1]:
        raise ConfigError(f"{task}: a pair needs two different languages, got {a}-{b}")
    return pair


def _cut(texts: list, n: int | None) -> list:
    idx = _sample(len(texts), n)
    return texts if idx is None else [texts[i] for i in idx]


class Task:
    """Base class: ``items`` are language codes or ``(a, b)`` pairs, resolved by :meth:`resolve`."""

    name = ""
    takes_langs = True  # whether --langs can select/filter its items

    def __init__(self, arg: str | None = None, limit: int | None = None):
        self.arg = arg
        self.limit = limit

    def cap(self, ctx: EvalContext) -> int | None:
        """Sentences per subset: the task's ``@N`` and the run's ``max_sentences``, whichever is smaller."""
        caps = [c for c in (self.limit, ctx.max_sentences) if c]
        return min(caps) if caps else None

    def default_items(self, ctx: EvalContext) -> list:
        raise NotImplementedError

    def parse_items(self, arg: str, ctx: EvalContext) -> list:
        return _split_arg(arg)

    def item_langs(self, item) -> list[str]:
        return [item] if isinstance(item, str) else list(item)

    def available_langs(self, ctx: EvalContext) -> list[str]:
        """Codes the task's corpus offers (for --langs validation)."""
        return []

    def items_from_langs(self, langs: list[str], ctx: EvalContext) -> list:
        """Items for a bare task name given ``--langs``: the languages this corpus has."""
        keys = {canonical(c) for c in self.available_langs(ctx)}
        return [lang for lang in langs if canonical(lang) in keys and canonical(lang) != "eng"]

    def resolve(self, items: list, ctx: EvalContext) -> list:
        """Map user codes onto corpus codes; unknown codes raise :class:`UnknownLanguageError`."""
        return items

    def run(self, items: list, ctx: EvalContext) -> list[dict]:
        raise NotImplementedError


# ------------------------------------------------------------------------------------------------


class TatoebaTask(Task):
    name = "tatoeba"

    def available_langs(self, ctx):
        return tatoeba_languages(ctx.data_dir)

    def default_items(self, ctx):
        return list(TATOEBA14)

    def parse_items(self, arg, ctx):
        out = []
        for item in _split_arg(arg):
            if item == "tatoeba112" or item == "all":
                out += self.available_langs(ctx)
            elif item in TATOEBA_SETS:
                out += TATOEBA_SETS[item]
            else:
                out.append(item)
        return list(dict.fromkeys(out))

    def resolve(self, items, ctx):
        avail = self.available_langs(ctx)
        return list(dict.fromkeys(resolve_code(x, avail, where="Tatoeba") for x in items))

    def item_langs(self, item):
        return [item, "eng"]

    def run(self, items, ctx):
        rows = []
        enc = ctx.encoder
        for code in items:
            src, eng = read_tatoeba_pair(ctx.data_dir, code)
            src, eng = _cut(src, self.cap(ctx)), _cut(eng, self.cap(ctx))
            if not src:
                raise DataError(f"Tatoeba {code}-eng is empty")
            x = enc.encode(src, key=f"tatoeba/{code}-eng.{code}")
            y = enc.encode(eng, key=f"tatoeba/{code}-eng.eng")
            xx2en = bitext.retrieval_accuracy(x, y, device=ctx.device)
            en2xx = bitext.retrieval_accuracy(y, x, device=ctx.device)
            subset, langs = f"{code}-eng", [code, "eng"]
            # XTREME's protocol (third_party/evaluate_retrieval.py + utils_retrieve.similarity_search):
            # the xxx sentences are indexed and each English sentence retrieves its nearest one, i.e.
            # eng -> xxx; that direction is the headline. The other direction and the mean of both
            # (what polyalign < 0.2 reported as "accuracy") stay as rows of their own.
            rows += [
                _row(subset, "accuracy", en2xx, langs, n=len(src), direction="en2xx"),
                _row(subset, "accuracy_xx2en", xx2en, langs, n=len(src)),
                _row(subset, "accuracy_en2xx", en2xx, langs, n=len(src)),
                _row(subset, "accuracy_mean_both", (xx2en + en2xx) / 2, langs, n=len(src)),
            ]
        return rows


class FloresXsimTask(Task):
    name = "flores-xsim"
    split = "devtest"

    def available_langs(self, ctx):
        return flores_languages(ctx.data_dir, self.split)

    def default_items(self, ctx):
        return [(x, "eng") for x in FLORES_QUICK]

    def parse_items(self, arg, ctx):
        out = []
        for item in _split_arg(arg):
            if item == "all":
                out += [(x, "eng_Latn") for x in self.available_langs(ctx) if x != "eng_Latn"]
            elif "-" in item:
                a, b = item.split("-", 1)
                out.append((a, b))
            else:
                out.append((item, "eng"))
        return out

    def items_from_langs(self, langs, ctx):
        return [(x, "eng") for x in super().items_from_langs(langs, ctx)]

    def resolve(self, items, ctx):
        avail = self.available_langs(ctx)
        where = f"FLORES-200 {self.split}"
        return list(dict.fromkeys(_resolve_pair(a, b, avail, where, self.name) for a, b in items))

    def run(self, items, ctx):
        codes = list(dict.fromkeys(c for pair in items for c in pair))
        texts = read_flores(ctx.data_dir, self.split, codes)
        # Each language is encoded once, whatever the number of pairs it is in. A cap keeps the first N
        # lines: whole articles, so that same-topic neighbours remain as hard candidates (a random
        # sample of FLORES sentences is too easy to tell apart to measure anything).
        emb, lines = {}, {}
        cap = self.cap(ctx)
        for c in codes:
            lines[c] = texts[c][:cap] if cap else texts[c]
            if not lines[c]:
                raise DataError(f"FLORES-200 {self.split} {c} is empty")
            emb[c] = ctx.encoder.encode(lines[c], key=f"flores200/{self.split}/{c}")
        return _xsim_rows(items, emb, lines, ctx)


def _xsim_rows(items, emb, lines, ctx: EvalContext) -> list[dict]:
    """LASER's xsim for each pair (src, tgt), both directions; the headline ``xsim_error`` is
    src -> tgt, the direction LASER reports for xxx -> eng. Errors are counted by target text, as
    LASER does when it is given the target text file (a duplicate sentence is not an error)."""
    rows = []
    for a, b in items:
        fwd = bitext.xsim_error_rate(emb[a], emb[b], k=ctx.k, device=ctx.device, tgt_texts=lines[b])
        bwd = bitext.xsim_error_rate(emb[b], emb[a], k=ctx.k, device=ctx.device, tgt_texts=lines[a])
        subset, langs, n = f"{a}-{b}", [a, b], len(emb[a])
        rows += [
            _row(subset, "xsim_error", fwd, langs, n=n, direction="src2tgt", k=ctx.k),
            _row(subset, "xsim_error_src2tgt", fwd, langs, n=n, k=ctx.k),
            _row(subset, "xsim_error_tgt2src", bwd, langs, n=n, k=ctx.k),
        ]
    return rows


class FloresDevXsimTask(FloresXsimTask):
    name = "flores-dev-xsim"
    split = "dev"


class Sts17Task(Task):
    name = "sts17-semeval"

    def available_langs(self, ctx):
        return ["ar", "en", "es"]

    def default_items(self, ctx):
        return list(sts.STS17_DEFAULT)

    def items_from_langs(self, langs, ctx):
        keys = {canonical(x) for x in langs} | {"eng"}
        return [s for s in sts.STS17_DEFAULT if all(canonical(x) in keys for x in self.item_langs(s))]

    def item_langs(self, item):
        return item.split("-")[:2]

    def resolve(self, items, ctx):
        for item in items:
            if item in ("tr-en", "en-tr"):
                raise DataError(
                    "STS17 tr-en is unusable: its input has 500 lines but the gold file 250 scores"
                )
            if item not in sts.STS17_TRACKS:
                raise UnknownLanguageError(item, list(sts.STS17_TRACKS), "STS17")
        return list(dict.fromkeys(items))

    def run(self, items, ctx):
        rows = []
        for pair in items:
            data = sts.read_sts17(ctx.data_dir, pair)
            data = _cut_sts(data, self.cap(ctx))
            value = sts.evaluate_sts(ctx.encoder, data, key=f"sts17/{pair}")
            rows.append(_row(pair, "spearman", value, list(data.langs), n=len(data.s1)))
        return rows


def _cut_sts(data: sts.StsData, n: int | None) -> sts.StsData:
    idx = _sample(len(data.s1), n)
    if idx is None:
        return data
    return sts.StsData(
        [data.s1[i] for i in idx], [data.s2[i] for i in idx], data.scores[idx], data.langs, data.name
    )


class StsbTask(Task):
    name = "stsb"
    split = "test"

    def available_langs(self, ctx):
        return list(sts.STSB_LANGS)

    def default_items(self, ctx):
        return list(sts.STSB_LANGS)

    def items_from_langs(self, langs, ctx):
        keys = {canonical(c) for c in self.available_langs(ctx)}
        return [lang for lang in langs if canonical(lang) in keys]

    def resolve(self, items, ctx):
        return list(dict.fromkeys(resolve_code(x, sts.STSB_LANGS, where="STS-B multi-mt") for x in items))

    def run(self, items, ctx):
        rows = []
        for lang in items:
            data = _cut_sts(sts.read_stsb(ctx.data_dir, lang, self.split), self.cap(ctx))
            value = sts.evaluate_sts(ctx.encoder, data, key=f"stsb/{self.split}/{lang}")
            rows.append(_row(lang, "spearman", value, [lang], n=len(data.s1)))
        return rows


class StsbCrossTask(StsbTask):
    name = "stsb-x"

    def default_items(self, ctx):
        return [("en", x) for x in STSB_X_QUICK]

    def parse_items(self, arg, ctx):
        out = []
        for item in _split_arg(arg):
            a, _, b = item.partition("-")
            out.append((a, b) if b else ("en", a))
        return out

    def items_from_langs(self, langs, ctx):
        return [("en", x) for x in super().items_from_langs(langs, ctx) if canonical(x) != "eng"]

    def resolve(self, items, ctx):
        out = []
        for a, b in items:
            pair = tuple(resolve_code(x, sts.STSB_LANGS, where="STS-B multi-mt") for x in (a, b))
            if pair[0] == pair[1]:
                raise ConfigError(
                    f"stsb-x needs two different languages, got {a}-{b} (use stsb for monolingual)"
                )
            out.append(pair)
        return list(dict.fromkeys(out))

    def run(self, items, ctx):
        rows = []
        for a, b in items:
            data = _cut_sts(sts.read_stsb_crosslingual(ctx.data_dir, a, b, self.split), self.cap(ctx))
            e1 = ctx.encoder.encode(data.s1, key=f"stsb/{self.split}/{a}/s1")
            e2 = ctx.encoder.encode(data.s2, key=f"stsb/{self.split}/{b}/s2")
            value = sts.spearman(sts.cosine_rows(e1, e2), data.scores)
            rows.append(_row(f"{a}-{b}", "spearman", value, [a, b], n=len(data.s1)))
        return rows


class _PathTask(Task):
    """A task over user files rather than languages: ``NAME:PATH`` (see ``usage``)."""

    takes_langs = False
    usage = "PATH"  # what follows ``NAME:`` on the command line
    folder = False  # whether the path is a folder (else a file)

    def default_items(self, ctx):
        raise ConfigError(f"{self.name} needs {self.usage}: --tasks {self.name}:{self.usage}")

    def parse_items(self, arg, ctx):
        return [arg]

    def item_langs(self, item):
        return []

    def resolve(self, items, ctx):
        for item in items:
            for path in (item,) if isinstance(item, str) else item:
                if not (Path(path).is_dir() if self.folder else Path(path).is_file()):
                    raise DataError("folder not found" if self.folder else "file not found", path)
        return items


class StsFileTask(_PathTask):
    name = "sts-file"

    def run(self, items, ctx):
        rows = []
        for path in items:
            data = _cut_sts(sts.read_sts_file(path), self.cap(ctx))
            value = sts.evaluate_sts(ctx.encoder, data, key=f"sts-file/{Path(path).name}")
            rows.append(_row(Path(path).name, "spearman", value, [], n=len(data.s1), path=str(path)))
        return rows


class SibTask(Task):
    name = "sib200"
    split = "test"  # what the classifier is scored on (it is always fitted on train)

    def available_langs(self, ctx):
        return classification.sib200_languages(ctx.data_dir)

    def default_items(self, ctx):
        return list(SIB_QUICK)

    def items_from_langs(self, langs, ctx):
        keys = {canonical(c) for c in self.available_langs(ctx)}
        return [lang for lang in langs if canonical(lang) in keys]

    def parse_items(self, arg, ctx):
        items = _split_arg(arg)
        return self.available_langs(ctx) if items == ["all"] else items

    def resolve(self, items, ctx):
        avail = self.available_langs(ctx)
        return list(dict.fromkeys(resolve_code(x, avail, where="SIB-200") for x in items))

    def _train(self, ctx, code):
        """Training embeddings; only the rows some experiment samples are encoded (others stay zero)."""
        data = classification.read_sib200(ctx.data_dir, code, "train")
        splits = classification.sample_indices(
            data.labels, ctx.n_experiments, ctx.samples_per_label, ctx.seed
        )
        used = np.unique(np.concatenate(splits))
        emb = ctx.encoder.encode([data.texts[i] for i in used], key=f"sib200/{code}/train")
        x = np.zeros((len(data.texts), emb.shape[1]), dtype=np.float32)
        x[used] = emb
        return x, data.labels, splits

    def _test(self, ctx, code):
        """Test embeddings; with a cap, a seeded stratified subset (the same rows in every language)."""
        data = classification.read_sib200(ctx.data_dir, code, self.split)
        cap = self.cap(ctx)
        idx = classification.stratified_subset(data.labels, cap, seed=0) if cap else range(len(data.labels))
        texts, labels = [data.texts[i] for i in idx], [data.labels[i] for i in idx]
        return ctx.encoder.encode(texts, key=f"sib200/{code}/{self.split}"), labels

    def _protocol(self, ctx):
        return {"n_experiments": ctx.n_experiments, "samples_per_label": ctx.samples_per_label}

    def run(self, items, ctx):
        rows = []
        for code in items:
            train_x, train_y, splits = self._train(ctx, code)
            test = self._test(ctx, code)
            res = classification.evaluate_transfer(
                train_x, train_y, {code: test}, seed=ctx.seed, splits=splits, **self._protocol(ctx)
            )[code]
            rows += [
                _row(code, m, res[m], [code], n=len(test[1]), **self._protocol(ctx))
                for m in ("accuracy", "f1_macro")
            ]
        return rows


class SibCrossTask(SibTask):
    name = "sib200-x"
    source = "eng_Latn"

    def items_from_langs(self, langs, ctx):
        return [x for x in super().items_from_langs(langs, ctx) if canonical(x) != "eng"]

    def item_langs(self, item):
        return [self.source, item]

    def run(self, items, ctx):
        train_x, train_y, splits = self._train(ctx, self.source)
        tests = {code: self._test(ctx, code) for code in items}
        res = classification.evaluate_transfer(
            train_x, train_y, tests, seed=ctx.seed, splits=splits, **self._protocol(ctx)
        )
        rows = []
        for code in items:
            for m in ("accuracy", "f1_macro"):
                rows.append(
                    _row(
                        code,
                        m,
                        res[code][m],
                        [self.source, code],
                        n=len(tests[code][1]),
                        train_lang=self.source,
                        **self._protocol(ctx),
                    )
                )
        return rows


class StsbDevTask(StsbTask):
    """STS-B multi-mt dev split: for choosing settings without touching the test set."""

    name = "stsb-dev"
    split = "dev"


class StsbCrossDevTask(StsbCrossTask):
    name = "stsb-x-dev"
    split = "dev"


class SibDevTask(SibTask):
    """SIB-200 scored on its dev split (fitted on train, as the test protocol)."""

    name = "sib200-dev"
    split = "dev"


class SibCrossDevTask(SibCrossTask):
    name = "sib200-x-dev"
    split = "dev"


class ClsFileTask(_PathTask):
    name = "cls-file"
    usage = "TRAIN,TEST"

    def parse_items(self, arg, ctx):
        parts = _split_arg(arg)
        if len(parts) != 2:
            raise ConfigError(f"cls-file needs TRAIN,TEST paths, got {arg!r}")
        return [tuple(parts)]

    def run(self, items, ctx):
        rows = []
        for train_path, test_path in items:
            train = classification.read_classification_file(train_path)
            test = classification.read_classification_file(test_path)
            tx = ctx.encoder.encode(train.texts, key=f"cls-file/{Path(train_path).name}")
            ex = ctx.encoder.encode(test.texts, key=f"cls-file/{Path(test_path).name}")
            res = classification.evaluate_classification(
                tx, train.labels, ex, test.labels, ctx.n_experiments, ctx.samples_per_label, ctx.seed
            )
            rows += [
                _row(Path(test_path).name, m, res[m], [], n=len(test.labels))
                for m in ("accuracy", "f1_macro")
            ]
        return rows


class BuccTask(_PathTask):
    name = "bucc"
    usage = "DIR"
    folder = True

    def run(self, items, ctx):
        rows = []
        for folder in items:
            for pair, splits in bitext.find_bucc_splits(folder).items():
                res = bitext.bucc_evaluate(
                    ctx.encoder,
                    splits["dev"],
                    splits["test"],
                    k=ctx.k,
                    strategy=ctx.bucc_strategy,
                    backend=ctx.bucc_backend,
                    device=ctx.device,
                    key=f"bucc/{pair}",
                )
                langs = pair.split("-", 1)
                for m in ("f1", "precision", "recall"):
                    rows.append(
                        _row(pair, m, res[m], langs, threshold=res["threshold"], strategy=ctx.bucc_strategy)
                    )
        return rows


def read_bitext_dir(folder) -> tuple[dict[str, list[str]], dict[str, Path]]:
    """A user's multi-way test set: ``{code: lines}`` from a folder of line-aligned files, the code
    being each file name without its last extension. Every bad input is a one-line :class:`DataError`."""
    from ..io import read_lines

    folder = Path(folder)
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    paths: dict[str, Path] = {}
    for path in files:
        code = path.name.rsplit(".", 1)[0] if "." in path.name else path.name
        clash = next((c for c in paths if canonical(c) == canonical(code)), None)
        if clash is not None:
            raise DataError(
                f"two files for language {canonical(code)!r}: {paths[clash].name}, {path.name}", folder
            )
        paths[code] = path
    if len(paths) < 2:
        raise DataError(f"need line-aligned files in at least 2 languages, found {len(paths)}", folder)
    texts = {}
    for code, path in paths.items():
        lines = read_lines(path)
        if not lines:
            raise DataError("empty file", path)
        blank = next((i for i, t in enumerate(lines, start=1) if not t.strip()), None)
        if blank is not None:
            raise DataError(
                "empty line (every line must be a sentence aligned with the other files)", path, blank
            )
        texts[code] = lines
    from ..data.readers import check_aligned

    check_aligned(texts, paths)
    return texts, paths


class BitextDirTask(_PathTask):
    """``bitext-dir:DIR`` — bitext accuracy and xsim on the user's own multi-way test set."""

    name = "bitext-dir"
    usage = "DIR"
    folder = True

    def _pairs(self, codes: list[str], ctx: EvalContext, folder) -> list[tuple[str, str]]:
        where = f"bitext-dir {folder}"
        pivot = resolve_code(ctx.pivot, codes, where=where)
        pairs = [(c, pivot) for c in codes if c != pivot]
        pairs += [_resolve_pair(a, b, codes, where, self.name) for a, b in ctx.pairs]
        return list(dict.fromkeys(pairs))

    def resolve(self, items, ctx):
        items = super().resolve(items, ctx)
        for folder in items:  # read and check everything before any encoding
            texts, _ = read_bitext_dir(folder)
            self._pairs(list(texts), ctx, folder)
        return items

    def run(self, items, ctx):
        rows = []
        for folder in items:
            texts, _ = read_bitext_dir(folder)
            pairs = self._pairs(list(texts), ctx, folder)
            codes = list(dict.fromkeys(c for pair in pairs for c in pair))
            lines = {c: _cut(texts[c], self.cap(ctx)) for c in codes}
            emb = {c: ctx.encoder.encode(lines[c], key=f"bitext-dir/{Path(folder).name}/{c}") for c in codes}
            for a, b in pairs:
                fwd = bitext.retrieval_accuracy(emb[a], emb[b], device=ctx.device)
                bwd = bitext.retrieval_accuracy(emb[b], emb[a], device=ctx.device)
                subset, langs, n = f"{a}-{b}", [a, b], len(lines[a])
                rows += [
                    _row(subset, "accuracy", fwd, langs, n=n, direction="src2tgt", path=str(folder)),
                    _row(subset, "accuracy_src2tgt", fwd, langs, n=n, path=str(folder)),
                    _row(subset, "accuracy_tgt2src", bwd, langs, n=n, path=str(folder)),
                ]
                rows += [{**r, "path": str(folder)} for r in _xsim_rows([(a, b)], emb, lines, ctx)]
        return rows


TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (
        TatoebaTask,
        FloresXsimTask,
        FloresDevXsimTask,
        Sts17Task,
        StsbTask,
        StsbCrossTask,
        StsbDevTask,
        StsbCrossDevTask,
        StsFileTask,
        SibTask,
        SibCrossTask,
        SibDevTask,
        SibCrossDevTask,
        ClsFileTask,
        BuccTask,
        BitextDirTask,
    )
}


# Names that used to mean something else: refusing them keeps old configs from silently changing meaning.
RENAMED = {
    "sts17": "task 'sts17' is now 'sts17-semeval': the 5 official SemEval-2017 tracks, which is not MTEB's "
    "11-subset STS17",
}


@dataclass
class PlannedTask:
    task: Task
    items: list
    spec: str
    from_suite: bool = False
    langs: list[str] = field(default_factory=list)


def parse_task(spec: str) -> Task:
    """``"tatoeba:deu,fra@200"`` -> a :class:`TatoebaTask` on deu and fra, 200 pairs each."""
    spec = spec.strip()
    limit = None
    head, at, tail = spec.rpartition("@")
    if at and tail.strip().isdigit():
        spec, limit = head, int(tail)
        if limit < 1:
            raise ConfigError(f"task {spec!r}: @N must be >= 1")
    name, sep, arg = spec.partition(":")
    name = name.strip()
    if name in TATOEBA_SETS or name == "tatoeba112":
        if sep:
            raise ConfigError(f"task {name!r} takes no argument; use tatoeba:LANGS")
        return TatoebaTask(name, limit)
    if name in RENAMED:
        raise ConfigError(RENAMED[name])
    if name not in TASKS:
        raise ConfigError(
            f"unknown task {name!r}; available: {', '.join(sorted(TASKS))} "
            f"(+ tatoeba14, tatoeba36, tatoeba112)"
        )
    if sep and not arg.strip():
        raise ConfigError(f"task {spec!r}: empty argument after ':'")
    return TASKS[name](arg.strip() if sep else None, limit)


def _keep(task: Task, item, keys: set[str]) -> bool:
    return all(canonical(x) in keys for x in task.item_langs(item))


def plan(
    ctx: EvalContext, suite: str | None = None, tasks: list[str] | None = None, langs: list[str] | None = None
) -> list[PlannedTask]:
    """Resolve a suite and/or task list into concrete items, validating everything before any encoding."""
    specs: list[tuple[str, bool]] = []
    if suite:
        if suite not in SUITES:
            raise ConfigError(f"unknown suite {suite!r}; available: {', '.join(SUITES)}")
        specs += [(s, True) for s in SUITES[suite]]
    specs += [(s, False) for s in (tasks or [])]
    if not specs:
        raise ConfigError("nothing to evaluate: give a suite or tasks")
    langs = list(langs or [])
    planned: list[PlannedTask] = []
    known: set[str] = set()
    for spec, from_suite in specs:
        task = parse_task(spec)
        if task.takes_langs:
            known |= {canonical(c) for c in task.available_langs(ctx)}
        if task.arg is not None:
            items = task.parse_items(task.arg, ctx)
            filtered = from_suite and langs
        elif langs and task.takes_langs:
            items, filtered = task.items_from_langs(langs, ctx), False
        else:
            items, filtered = task.default_items(ctx), bool(langs)
        items = task.resolve(items, ctx)
        if filtered and task.takes_langs:
            keys = {canonical(x) for x in langs} | {"eng"}
            items = [it for it in items if _keep(task, it, keys)]
        if not items:
            log.info("task %s: no items left for languages %s; skipped", spec, ",".join(langs))
            continue
        planned.append(PlannedTask(task, items, spec, from_suite))
    for lang in langs:
        if canonical(lang) not in known | {"eng"}:
            raise UnknownLanguageError(lang, sorted(known), "the selected tasks")
    if not planned:
        raise ConfigError(f"no task has data for languages {','.join(langs)}")
    return planned

"""Studies: one YAML file describes a paper experiment (data, shared training settings, arms, seeds,
evaluation); ``polyalign study CONFIG`` runs every arm × seed, evaluates each model and the base
model, and writes a markdown report with mean ± sd over seeds and paired tests.

Re-running a study skips the runs whose model and results already exist, so a killed study resumes;
its output folder holds only the study's own files (a folder polyalign did not write is refused).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as _dt
import json
import logging
import os
import platform
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from .config import load_yaml
from .errors import ConfigError, PolyalignError
from .io import prepare_output, write_text_atomic

if TYPE_CHECKING:
    from .train.config import TrainConfig

log = logging.getLogger(__name__)


# An arm with ``from_arm: SOURCE`` and ``wise_alpha: α`` is not trained: it is SOURCE's model of the
# same seed interpolated with the base at α (WiSE-FT), so an α sweep costs evaluations only.
# ``interpolate_with: OTHER`` takes OTHER's model of the same seed instead of the base: a two-model
# soup (Wortsman et al. 2022) of runs that share the base and the data but not the loss.
FROM_ARM = "from_arm"
WITH_ARM = "interpolate_with"


@dataclasses.dataclass
class StudyConfig:
    name: str
    data: dict  # build_corpus arguments (+ max_groups)
    train: dict  # TrainConfig fields shared by every arm
    arms: dict  # arm name -> TrainConfig overrides
    eval: dict  # evaluate() arguments: tasks / suite / langs / seen_langs
    seeds: list = dataclasses.field(default_factory=lambda: [0, 1, 2])
    description: str = ""
    include_base: bool = True
    compare_pairs: list = dataclasses.field(
        default_factory=list
    )  # [[arm_a, arm_b], ...]: paired tests between arms

    @classmethod
    def from_yaml(cls, path) -> StudyConfig:
        data = load_yaml(path)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{path}: unknown study field(s) {unknown}; known: {sorted(names)}")
        missing = [k for k in ("name", "data", "train", "arms", "eval") if k not in data]
        if missing:
            raise ConfigError(f"{path}: missing study field(s) {missing}")
        for key in ("data", "train", "arms", "eval"):
            if not isinstance(data[key], dict):
                raise ConfigError(f"{path}: {key!r} must be a mapping, not {type(data[key]).__name__}")
        if not data["arms"]:
            raise ConfigError(f"{path}: no arms")
        for arm, overrides in data["arms"].items():
            if overrides is not None and not isinstance(overrides, dict):
                raise ConfigError(f"{path}: arm {arm!r} must be a mapping of training fields")
            source = (overrides or {}).get(FROM_ARM)
            if (overrides or {}).get(WITH_ARM) is not None and source is None:
                raise ConfigError(f"{path}: arm {arm!r}: {WITH_ARM} needs {FROM_ARM}")
            if source is not None:
                partners = [(FROM_ARM, source)]
                if overrides.get(WITH_ARM) is not None:
                    partners.append((WITH_ARM, overrides[WITH_ARM]))
                    if overrides[WITH_ARM] == source:
                        raise ConfigError(f"{path}: arm {arm!r}: {WITH_ARM} names its {FROM_ARM} again")
                for key, name in partners:
                    src = data["arms"].get(name, {}) if name in data["arms"] else None
                    if src is None or (src or {}).get(FROM_ARM) or (src or {}).get("wise_alpha", 1) != 1:
                        raise ConfigError(
                            f"{path}: arm {arm!r}: {key} must name a trained arm without "
                            f"wise_alpha, not {name!r}"
                        )
                extra = sorted(set(overrides) - {FROM_ARM, WITH_ARM, "wise_alpha"})
                if extra or "wise_alpha" not in overrides:
                    raise ConfigError(
                        f"{path}: arm {arm!r} is interpolated from {source!r}: give wise_alpha "
                        f"and nothing else{f' (not {extra})' if extra else ''}"
                    )
        for pair in data.get("compare_pairs") or []:
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise ConfigError(f"{path}: compare_pairs entries are [arm_a, arm_b], not {pair!r}")
            unknown = [a for a in pair if a not in data["arms"]]
            if unknown:
                raise ConfigError(
                    f"{path}: compare_pairs names unknown arm(s) {unknown}; arms: {sorted(data['arms'])}"
                )
        return cls(**data)

    def train_config(self, arm: str, data: str, out: str, seed: int, resume: bool = False) -> TrainConfig:
        """The arm's :class:`~polyalign.train.TrainConfig`, typed and validated like a YAML file's."""
        from .config import from_dict
        from .train.config import TrainConfig

        arm_fields = dict(self.arms[arm] or {})
        source = arm_fields.pop(FROM_ARM, None)
        arm_fields.pop(WITH_ARM, None)
        if source is not None:  # the source arm's training, saved interpolated at this arm's α
            arm_fields = {**(self.arms[source] or {}), **arm_fields}
        fields = {**self.train, **arm_fields, "data": data, "out": out, "seed": seed}
        fields["resume"] = resume
        try:
            return from_dict(TrainConfig, fields)
        except ConfigError as e:
            raise ConfigError(f"arm {arm!r}: {e}") from None

    def derived(self, arm: str) -> str | None:
        """The arm this one is interpolated from, or None for a trained arm."""
        return (self.arms[arm] or {}).get(FROM_ARM)

    def check(self, corpus_dir: str) -> None:
        """Every arm's training config and the evaluation arguments, before any work is done."""
        import inspect

        from .eval import evaluate

        for arm in self.arms:
            self.train_config(arm, corpus_dir, "runs/check", seed=0)
        accepted = set(inspect.signature(evaluate).parameters) - {"model", "data_dir", "out", "model_name"}
        unknown = sorted(set(self.eval) - accepted)
        if unknown:
            raise ConfigError(f"unknown eval field(s) {unknown}; known: {sorted(accepted)}")


def _build_data(spec: dict, out: Path, data_dir) -> Path:
    from .data.build import build_corpus, make_views, save_corpus
    from .data.groups import GROUP_ID, sample_groups

    if (out / "dataset_dict.json").is_file():
        return out
    spec = dict(spec)
    max_groups = spec.pop("max_groups", None)
    source = spec.pop("source")
    if source == "synth":  # a corpus made by `polyalign synth` (path relative to the working directory)
        from .data.build import load_corpus, load_meta

        corpus, meta = load_corpus(spec["path"]), load_meta(spec["path"])
    else:
        corpus, meta = build_corpus(source, data_dir=data_dir, **spec)
    if max_groups and len(corpus["groups"]) > max_groups:
        groups = sample_groups(corpus["groups"], max_groups, seed=0)
        keep = set(groups[GROUP_ID])
        hard = corpus.get("hard_negatives")
        corpus = make_views(groups, pivot=meta["pivot"])
        if hard is not None:
            corpus["hard_negatives"] = hard.filter(lambda r: r[GROUP_ID] in keep)
        meta["counts"] = {k: len(v) for k, v in corpus.items()}
        meta["max_groups"] = max_groups
    save_corpus(corpus, out, meta)
    return out


def _interpolate_arm(
    study: StudyConfig, arm: str, source: str, seed: int, out: Path, corpus_dir: str
) -> None:
    """``models/ARM/seed-N`` = the source arm's model of that seed, interpolated with the base (or
    with the ``interpolate_with`` arm's model of that seed)."""
    from .models import load_encoder
    from .train import train
    from .train.interpolate import interpolate_weights
    from .train.trainer import _save_model_atomic, training_card

    def trained(name: str) -> Path:
        folder = out / "models" / name / f"seed-{seed}"
        if not (folder / "modules.json").is_file():
            train(study.train_config(name, corpus_dir, str(folder), seed, resume=folder.is_dir()))
        return folder

    src_dir = trained(source)
    partner = (study.arms[arm] or {}).get(WITH_ARM)
    other_dir = trained(partner) if partner else None
    cfg = study.train_config(arm, corpus_dir, str(out / "models" / arm / f"seed-{seed}"), seed)
    model = load_encoder(str(src_dir), device="cpu")
    if other_dir is None:
        other = load_encoder(cfg.model, pooling=cfg.pooling, prompt=cfg.prompt, device="cpu")
    else:
        other = load_encoder(str(other_dir), device="cpu")
    other.max_seq_length = model.max_seq_length
    interpolate_weights(model, other, cfg.wise_alpha)
    dest = Path(cfg.out)
    prepare_output(dest, "train", overwrite=True)
    log_rows = (src_dir / "train_log.jsonl").read_text(encoding="utf-8").splitlines()
    steps = json.loads(log_rows[-1])["step"] if log_rows else 0
    card = training_card(cfg, steps, model.max_seq_length) + (
        f"- **Interpolated from:** `{src_dir}` (weight {cfg.wise_alpha:g}) and "
        f"{f'`{other_dir}`' if other_dir else 'the base model'} (weight {1 - cfg.wise_alpha:g})\n"
    )
    _save_model_atomic(model, dest, card)


def _results_done(dest: Path) -> bool:
    return dest.is_dir() and any(dest.glob("*.jsonl"))


def _run_jobs(
    config_path, out: Path, data_dir, runs: list[tuple[str, int]], jobs: int
) -> tuple[dict, list[str]]:
    """Run arm × seed pairs as ``jobs`` concurrent child processes (one ``polyalign study`` each).

    Small encoders leave most of a GPU idle, so several runs can share one device. Each child's
    output goes to ``out/logs``; a failed child does not stop the others."""
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    # Split the CPU threads between the children instead of letting each one take them all.
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // jobs)))

    def one(run: tuple[str, int]) -> tuple[str, float, int]:
        arm, seed = run
        cmd = [sys.executable, "-m", "polyalign", "study", str(config_path), "--out", str(out)]
        cmd += ["--arms", arm, "--seeds", str(seed), "--no-report"]
        if data_dir:
            cmd += ["--data-dir", str(data_dir)]
        log_path = logs / f"{arm}-seed-{seed}.log"
        t = time.perf_counter()
        with open(log_path, "w", encoding="utf-8") as fh:
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env).returncode
        took = time.perf_counter() - t
        log.info("%s/seed-%d finished in %.0f s (exit %d; log %s)", arm, seed, took, rc, log_path)
        return f"{arm}/seed-{seed}", took, rc

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        finished = list(pool.map(one, runs))
    failed = [name for name, _, rc in finished if rc != 0]
    return {f"run {name}": took for name, took, _ in finished}, failed


def run_study(
    config_path,
    out=None,
    data_dir=None,
    only: list[str] | None = None,
    seeds: list[int] | None = None,
    jobs: int = 1,
    report: bool = True,
    report_only: bool = False,
) -> Path:
    import datasets

    from .eval import evaluate
    from .models import load_encoder
    from .report import compare, deltas_table, load_results, scores_by_label
    from .train import train

    datasets.disable_progress_bars()
    study = StudyConfig.from_yaml(config_path)
    # Check the request before any data is built or model evaluated.
    unknown = sorted(set(only or []) - set(study.arms))
    if unknown:
        raise ConfigError(f"{config_path}: unknown arm(s) {unknown}; arms: {sorted(study.arms)}")
    if jobs < 1:
        raise ConfigError(f"--jobs must be ≥ 1, not {jobs}")
    out = Path(out or Path("runs") / study.name)
    try:  # every arm through the typed config: a typo must not surface after hours of training
        study.check(str(out / "corpus"))
    except ConfigError as e:
        raise ConfigError(f"{config_path}: {e}") from None
    prepare_output(out, "study", resume=True)  # a study continues its own folder, never another one
    seeds = seeds or study.seeds
    # report_only: write the report from the results already in `out` (e.g. runs made elsewhere).
    corpus_dir = out / "corpus" if report_only else _build_data(study.data, out / "corpus", data_dir)
    eval_kwargs = dict(study.eval)
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def evaluate_to(model_path_or_name, dest: Path) -> None:
        if _results_done(dest):
            return
        t = time.perf_counter()
        model = load_encoder(model_path_or_name)
        evaluate(
            model, data_dir=data_dir, out=dest, model_name=dest.parent.name + "/" + dest.name, **eval_kwargs
        )
        timings[f"eval {dest.parent.name}/{dest.name}"] = time.perf_counter() - t

    base_model = study.train.get("model", "me5-small-q4")
    if study.include_base and not report_only:
        evaluate_to(base_model, out / "results" / "base" / "seed-0")
    arms = [a for a in study.arms if not only or a in only]
    failed: list[str] = []
    if report_only:
        arms = []
    elif jobs > 1:
        todo = [
            (a, s)
            for a in arms
            for s in seeds
            if not _results_done(out / "results" / a / f"seed-{s}") and not study.derived(a)
        ]
        job_timings, failed = _run_jobs(config_path, out, data_dir, todo, jobs)
        timings.update(job_timings)
        arms = [a for a in arms if study.derived(a)]  # cheap: interpolations, here in order
    # Sources before the arms interpolated from them.
    arms.sort(key=lambda a: study.derived(a) is not None)
    for arm in arms:
        for seed in seeds:
            run_dir = out / "models" / arm / f"seed-{seed}"
            source = study.derived(arm)
            if source is not None and not (run_dir / "modules.json").is_file():
                t = time.perf_counter()
                _interpolate_arm(study, arm, source, seed, out, str(corpus_dir))
                timings[f"interpolate {arm}/seed-{seed}"] = time.perf_counter() - t
            if not (run_dir / "modules.json").is_file():
                cfg = study.train_config(
                    arm,
                    str(corpus_dir),
                    str(run_dir),
                    seed,
                    resume=run_dir.is_dir(),  # a killed run continues
                )
                t = time.perf_counter()
                train(cfg)
                timings[f"train {arm}/seed-{seed}"] = time.perf_counter() - t
            evaluate_to(str(run_dir), out / "results" / arm / f"seed-{seed}")

    def scores(label):
        folder = out / "results" / label
        return scores_by_label([load_results(p) for p in sorted(folder.glob("seed-*"))], label)

    if not report:
        return out
    present = [a for a in study.arms if (out / "results" / a).is_dir()]
    sections = [f"# Study `{study.name}`", "", study.description.strip(), ""]
    command = (
        "polyalign study " + " ".join(shlex.quote(a) for a in sys.argv[2:])
        if sys.argv[1:2] == ["study"]
        else f"polyalign study {config_path}"
    )
    sections += [
        f"- command: `{command}`",
        f"- config: `{config_path}`; seeds: {seeds}",
        f"- machine: {platform.machine()}, {os.cpu_count()} CPU cores, {platform.platform()}; "
        f"torch {__import__('torch').__version__}; GPU: {_gpu_name()}",
        f"- date: {_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- corpus: {json.dumps(_corpus_counts(corpus_dir))}",
        "",
    ]
    if study.include_base and present:
        sections += [
            "## Each arm vs the base model",
            "",
            "p: Wilcoxon signed-rank over subsets (languages/pairs) between per-subset means.",
            "",
            deltas_table(compare(scores("base"), [scores(a) for a in present])),
            "",
        ]
    for a, b in study.compare_pairs:
        if a in present and b in present:
            sections += [
                f"## {b} vs {a} (paired over subsets)",
                "",
                deltas_table(compare(scores(a), [scores(b)]), base_label=a),
                "",
            ]
        else:
            missing = [x for x in (a, b) if x not in present]
            sections += [f"## {b} vs {a}", "", f"Not compared: no results yet for {', '.join(missing)}.", ""]
    if timings:
        sections += [
            "## Timings of this invocation (s)",
            "",
            *(f"- {k}: {v:.0f}" for k, v in timings.items()),
            f"- total: {time.perf_counter() - started:.0f}",
            "",
        ]
    report = out / "RESULTS.md"
    write_text_atomic(report, "\n".join(sections))
    print("\n".join(sections))
    if failed:
        raise PolyalignError(
            f"{len(failed)} run(s) failed: {', '.join(failed)}; logs in {out / 'logs'} "
            "(the report covers the runs that finished; rerun the same command to retry)"
        )
    return report


def _gpu_name() -> str:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"


def _corpus_counts(path: Path) -> dict:
    from .data.build import load_meta

    return load_meta(path).get("counts", {})


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "study", help="run a paper study (arms × seeds, evaluation, report) from a YAML config"
    )
    p.add_argument("config", help="experiments/<study>/config.yaml")
    p.add_argument("--out", default=None, help="output folder (default runs/<study name>)")
    p.add_argument(
        "--data-dir", default=None, help="data folder (default $POLYALIGN_DATA_DIR or ../shared/data)"
    )
    p.add_argument("--arms", default=None, help="comma-separated subset of arms to run")
    p.add_argument("--seeds", default=None, help="comma-separated seeds (default: the config's)")
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="run this many arm × seed runs at once, as child processes sharing the device (a small "
        "model leaves most of a GPU idle)",
    )
    p.add_argument("--no-report", action="store_true", help=argparse.SUPPRESS)
    p.add_argument(
        "--report-only",
        action="store_true",
        help="only write RESULTS.md from the results already in --out (runs made elsewhere)",
    )
    p.set_defaults(
        func=lambda a: (
            run_study(
                a.config,
                a.out,
                a.data_dir,
                only=a.arms.split(",") if a.arms else None,
                seeds=[int(s) for s in a.seeds.split(",")] if a.seeds else None,
                jobs=a.jobs,
                report=not a.no_report,
                report_only=a.report_only,
            )
            and 0
        )
    )

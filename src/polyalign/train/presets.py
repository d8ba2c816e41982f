"""Named training recipes: ``polyalign train --preset NAME`` (or a ``preset:`` key in a YAML file or
a study arm). A preset sets training fields only; anything given in the config file or on the
command line wins over it. Each preset says where its settings were chosen and measured.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Preset:
    summary: str
    fields: dict = field(default_factory=dict)
    measured: str = ""  # where the numbers behind this preset are (RESULTS.md section)


# Soft labels from a frozen copy of the base on random language pairs (the recipe study's arm `soft_labels`).
_SOFT_LABELS = {
    "loss": "soft-priority",
    "data_view": "pairs",
    "teacher": "self",
    "temperature": 0.1,
    "teacher_temperature": 0.1,
    "soft_combine": "sum",
    "lr": 2e-5,
}

PRESETS: dict[str, Preset] = {
    "single": Preset(
        "MPCL's +Single baseline: symmetric single-positive InfoNCE on random disjoint language pairs",
        {"loss": "single", "temperature": 0.05, "lr": 2e-5},
        "experiments/RESULTS.md, Part C (Table 1 at CPU scale)",
    ),
    "mpcl": Preset(
        "MPCL's +Multiple: multi-positive InfoNCE over whole groups (every sentence an anchor)",
        {"loss": "multi", "temperature": 0.05, "lr": 2e-5},
        "experiments/RESULTS.md, Part C (Table 1 at CPU scale)",
    ),
    "multiway": Preset(
        "the multi-way paper's alignment with every language as anchor: InfoNCE for each ordered "
        "language pair in the batch, the other groups' sentences in the target language as negatives",
        {"loss": "multiway", "temperature": 0.05, "lr": 2e-5},
        "experiments/RESULTS.md, Part C2 (multi-way vs English-centric at CPU scale)",
    ),
    "imascl": Preset(
        "soft contrastive learning at IMASCL's reference setting: Priority soft labels from a frozen "
        "copy of the student, tau = tau_t = 0.1, both directions summed, on English-X pairs",
        {
            "loss": "soft-priority",
            "teacher": "self",
            "temperature": 0.1,
            "teacher_temperature": 0.1,
            "soft_combine": "sum",
            "lr": 2e-5,
        },
        "experiments/RESULTS.md, Part F (soft contrastive learning at CPU scale)",
    ),
    "recipe": Preset(
        "the recommended recipe: two runs on the same data -- 'soft-labels' and 'soft-structure' -- "
        "saved as their weight average (0.7 / 0.3, a two-model soup; twice the training time). On "
        "test (3 seeds): bitext = +Single (non-English pairs better), STS-B and STS17 not below the "
        "base, SIB-200 not below +Single: the only arm measured with no trade-off against either; "
        "chosen by the committed dev rule, RESULTS.md Part E6",
        {**_SOFT_LABELS, "soup_with": "soft-structure", "soup_weight": 0.7},
        "experiments/RESULTS.md, Part E6 (the recipe study, CPU scale, arm recipe; measured as soup70)",
    ),
    "soft-labels": Preset(
        "bitext alignment that keeps monolingual quality, in one run: soft labels from a frozen copy "
        "of the base (IMASCL's Priority, tau = tau_t = 0.1, both directions summed) on random "
        "language pairs of the groups. On test (3 seeds): bitext = +Single, STS above the base, "
        "SIB-200 0.7 below +Single; the recommended recipe until Part E6 (then named 'recipe')",
        _SOFT_LABELS,
        "experiments/RESULTS.md, Part E3 (the recipe study, CPU scale, arm soft_labels; measured as recipe)",
    ),
    "soft-structure": Preset(
        "the 'soft-labels' soft labels made sharper (tau_t = 0.05) plus the monolingual-structure term "
        "(weight 1) against the same frozen copy of the base; chosen by the committed dev rule. On "
        "test (3 seeds): bitext = +Single, the most SIB-200 of any arm, STS above +Single but "
        "0.6-0.9 below the base, where 'soft-labels' keeps it; RESULTS.md Part E4",
        {
            "loss": "soft-priority",
            "data_view": "pairs",
            "teacher": "self",
            "temperature": 0.1,
            "teacher_temperature": 0.05,
            "soft_combine": "sum",
            "keep_mono": 1.0,
            "lr": 2e-5,
        },
        "experiments/RESULTS.md, Part E4 (the recipe study, CPU scale, arm soft_structure; measured as recipe_tt05_mono1)",
    ),
    "structure": Preset(
        "an earlier recipe: single-positive InfoNCE on random language pairs plus the "
        "monolingual-structure term (weight 1) against a frozen copy of the base; more SIB-200 than "
        "'soft-labels', less bitext and STS (RESULTS.md Part E2)",
        {"loss": "single", "temperature": 0.05, "lr": 2e-5, "keep_mono": 1.0},
        "experiments/RESULTS.md, Part E (the recipe study, CPU scale, arm single_mono1)",
    ),
}


def describe() -> str:
    """The presets as ``polyalign train --list-presets`` prints them."""
    lines = []
    for name, p in PRESETS.items():
        settings = ", ".join(f"{k}={v}" for k, v in p.fields.items())
        lines += [f"{name}: {p.summary}", f"    {settings}", f"    measured: {p.measured}"]
    return "\n".join(lines)

"""What a user sees: polyalign's own log lines and progress bars; other libraries' chatter only with ``-v``.

By default the ``polyalign`` loggers speak at INFO and the libraries underneath (transformers'
LOAD REPORT, sentence-transformers' INFO lines and its default-prompt WARNING, datasets' "Saving
the dataset" bars, weight-loading bars) only at ERROR. Progress bars are drawn only when stderr is
a terminal (a log file would fill with carriage-return frames) and never after ``--no-progress``.
The choices travel in environment variables, so child processes (``polyalign study --jobs``) and
libraries imported later follow them.
"""

from __future__ import annotations

import logging
import os
import sys

__all__ = ["PROGRESS_ENV", "configure", "show_progress"]

PROGRESS_ENV = "POLYALIGN_PROGRESS"  # "0" turns polyalign's progress bars off
THIRD_PARTY = (
    "transformers",
    "sentence_transformers",
    "datasets",
    "huggingface_hub",
    "accelerate",
    "torch",
    "urllib3",
    "filelock",
    "fsspec",
    "matplotlib",
    "PIL",
)
_OFF = ("0", "false", "no", "off")


def show_progress() -> bool:
    """Whether to draw a progress bar: stderr is a terminal and ``--no-progress`` was not given."""
    if os.environ.get(PROGRESS_ENV, "").strip().lower() in _OFF:
        return False
    return sys.stderr.isatty()


def configure(verbose: bool = False, progress: bool = True) -> None:
    """Set up logging and progress bars for a command-line run (call before heavy imports)."""
    if not progress:
        os.environ[PROGRESS_ENV] = "0"
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    logging.getLogger("polyalign").setLevel(logging.DEBUG if verbose else logging.INFO)
    for name in THIRD_PARTY:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)
    # transformers sets its own level when first imported; it reads this variable then.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "info" if verbose else "error")
    if not (verbose and show_progress()):
        # Read by datasets and huggingface_hub (and through it transformers) when imported.
        os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    _already_imported(verbose)


def _already_imported(verbose: bool) -> None:
    """Libraries imported before :func:`configure` (tests, the Python API) read no variables again."""
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(logging.INFO if verbose else logging.ERROR)
    bars = verbose and show_progress()
    if "datasets" in sys.modules:
        import datasets

        if bars:
            datasets.enable_progress_bars()
        else:
            datasets.disable_progress_bars()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

        if bars:
            enable_progress_bars()
        else:
            disable_progress_bars()

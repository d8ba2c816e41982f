"""List the data files ``bench/gpu/run.sh`` reads (paper eval suite + XNLI), relative to the data dir.

    python bench/gpu/data_files.py /work/shared/data > files.txt

Runs the ``paper`` suite with the tiny random encoder on 8 sentences per set and builds the 6-language
XNLI corpus, recording every file opened under the data folder (a Python audit hook), so the list
follows polyalign's task definitions instead of a copy of them.
"""

from __future__ import annotations

import os
import sys
import tempfile

LANGS = ["en", "de", "fr", "es", "ru", "zh"]  # bench/bench_train.py's real mode


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = os.path.abspath(args[0] if args else "../shared/data")
    seen: set[str] = set()

    def hook(event: str, hook_args: tuple) -> None:
        if event == "open" and hook_args and isinstance(hook_args[0], (str, bytes, os.PathLike)):
            path = os.path.abspath(os.fsdecode(hook_args[0]))
            if path.startswith(root + os.sep):
                seen.add(os.path.relpath(path, root))

    sys.addaudithook(hook)
    import torch

    torch.set_num_threads(1)
    from polyalign.data.build import build_corpus
    from polyalign.eval import evaluate
    from polyalign.models.tiny import build_tiny_encoder

    with tempfile.TemporaryDirectory() as cache:
        evaluate(build_tiny_encoder(), suite="paper", data_dir=root, max_sentences=8, cache_dir=cache)
    build_corpus("xnli", data_dir=root, langs=LANGS)
    print("\n".join(sorted(seen)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

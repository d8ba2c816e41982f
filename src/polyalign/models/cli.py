"""``polyalign embed`` — texts in (file or stdin), embeddings out (.npy)."""

from __future__ import annotations

import argparse
import sys

from ..config import add_overwrite_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="embed texts (one per line) into a .npy matrix")
    p.add_argument(
        "--model", default="me5-small-q4", help="alias, local folder or hub id (default me5-small-q4)"
    )
    p.add_argument("--input", "-i", default="-", help="text file, one sentence per line ('-' = stdin)")
    p.add_argument("--out", "-o", required=True, help="output .npy file (float32, one row per line)")
    add_overwrite_argument(p)
    p.add_argument("--pooling", default=None, help="override pooling: mean, cls, max")
    p.add_argument("--prompt", default=None, help="override the text prefix (E5 default: 'query: ')")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default=None)
    p.add_argument(
        "--trust-remote-code", action="store_true", help="allow code shipped in a hub model repo to run"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..console import show_progress
    from ..errors import DataError
    from ..io import atomic_path, decode_lines, prepare_output_file, read_lines
    from . import load_encoder

    out = args.out if args.out.endswith(".npy") else args.out + ".npy"
    prepare_output_file(out, overwrite=args.overwrite)  # before any work: never replace a file silently
    if args.input == "-":
        # Bytes, decoded by the same strict rules as a file: binary input is a one-line error.
        texts = decode_lines(sys.stdin.buffer.read(), "<stdin>")
        source = "<stdin>"
    else:
        texts = read_lines(args.input)
        source = args.input
    for i, t in enumerate(texts, start=1):
        if not t.strip():
            raise DataError("empty line (every line must hold a sentence)", source, i)
        if "\x00" in t:
            raise DataError("NUL byte: binary input, not text", source, i)
    if not texts:
        raise DataError("no input lines", source)
    model = load_encoder(
        args.model,
        pooling=args.pooling,
        prompt=args.prompt,
        device=args.device,
        trust_remote_code=args.trust_remote_code,
    )
    emb = model.encode(
        texts,
        batch_size=args.batch_size,
        show_progress_bar=show_progress(),
        convert_to_numpy=True,
        normalize_embeddings=True,
    )
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.save(f, emb.astype(np.float32))
    print(f"wrote {out}: {emb.shape[0]} x {emb.shape[1]}", file=sys.stderr)
    return 0

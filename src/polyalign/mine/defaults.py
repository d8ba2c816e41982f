"""The defaults of `polyalign mine`, defined once for the library and the CLI (no heavy imports
here, so that `polyalign --help` stays fast)."""

# Margin threshold without a dev set. LASER's WikiMatrix README calls 1.04 "a good choice for most
# language pairs" (tuned for MT training data); CCMatrix kept pairs from 1.06. Mined groups become
# positives of a contrastive loss, where a wrong pair hurts more than a missing one, so polyalign
# takes the stricter 1.06. Both were tuned on LASER embeddings: with another encoder, pass a dev
# gold set (`--dev-gold`) — bench/bench_mine.py reports F1 at this default and at the tuned value.
DEFAULT_THRESHOLD = 1.06
# Target-set size from which `polyalign mine` switches to an approximate index (with faiss).
# Provisional: exact search of 250k x 250k at d=384 is ~24 TFLOP per direction, hours on a laptop
# CPU, minutes on a GPU; bench/bench_mine.py measures exact vs IVF time and recall to settle it.
APPROX_ABOVE = 250_000
# IVF probes per query: recall of the k-NN means against exact search is what bench_mine reports.
DEFAULT_NPROBE = 32
# HNSW search breadth (faiss's efSearch).
DEFAULT_EF_SEARCH = 128
# The approximate index `--backend auto` switches to from APPROX_ABOVE sentences.
APPROX_BACKEND = "faiss-hnsw"
DEFAULT_SHARD_SIZE = 10_000  # ~7.7 MB at d=384 in float16; a few minutes of CPU encoding per shard
DEFAULT_MAX_LENGTH_RATIO = 3.0

"""The defaults of `polyalign mine`, defined once for the library and the CLI (no heavy imports
here, so that `polyalign --help` stays fast)."""

# Margin threshold without a dev set. LASER's WikiMatrix README calls 1.04 "a good choice for most
# language pairs" (tuned for MT training data); CCMatrix kept pairs from 1.06. Mined groups become
# positives of a contrastive loss, where a wrong pair hurts more than a missing one, so polyalign
# takes the stricter 1.06. Both were tuned on LASER embeddings: with another encoder, pass a dev
# gold set (`--dev-gold`) — bench/bench_mine.py reports F1 at this default and at the tuned value.
DEFAULT_THRESHOLD = 1.06
# Target-set size from which `polyalign mine --backend auto` switches to an approximate index
# (with faiss on a CPU; with faiss GPUs search stays exact). bench/bench_mine.py, 1 thread, real
# me5-small-q4 vectors (README): up to 16k x 16k no approximate index reached >= 0.99 recall of the
# top-4 while being faster than exact search (HNSW efSearch 256: 0.992 at 2.3x exact's time; IVF,
# 4 sqrt(n) lists, nprobe 32: 0.91-0.94); at 100k x 100k (synthetic) exact faiss took 152 s, HNSW
# efSearch 128 90 s under twice the load. So exact up to at least 100k; 250k (exact ~6x the 100k
# time, by the n^2 growth) is where HNSW should be clearly faster — extrapolated, not measured.
APPROX_ABOVE = 250_000
APPROX_BACKEND = "faiss-hnsw"  # IVF needs far more probes than HNSW for 0.99 recall on sentence vectors
# HNSW search breadth (faiss's efSearch): 256 gave 0.995 / 0.992 top-4 recall at 10k / 16k (real).
DEFAULT_EF_SEARCH = 256
# IVF probes per query (IVF is only used when asked for: --backend faiss-ivf).
DEFAULT_NPROBE = 32
DEFAULT_SHARD_SIZE = 10_000  # ~7.7 MB at d=384 in float16; a few minutes of CPU encoding per shard
DEFAULT_MAX_LENGTH_RATIO = 3.0

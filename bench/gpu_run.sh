#!/bin/bash
# The device command of bench/gpu_bench.py (one call on a lent GPU machine, see bench/README.md):
#   bash .gpu/bench/gpu_run.sh "$OUT" [gpu_bench.py options]
# Installs the carried wheels (.gpu/whl/{common,trl,lf}: pure-Python pins of bridge/backends/trl/requirements.txt and
# llamafactory.txt, plus pydantic and regex for gui-bridge itself) into one --target folder per stack, records
# the machine's own package versions, then runs the bench with the machine's python3 (its CUDA torch).
set -u
OUT=${1:?usage: gpu_run.sh OUTDIR [options]}; shift
HERE=$(cd "$(dirname "$0")" && pwd)
WHL=$HERE/../whl
t0=$(date +%s)
for d in common trl lf; do
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site-$d "$WHL"/$d/*.whl \
    || { echo "[gpu_run] wheel install failed: $d"; exit 3; }
done
echo "[gpu_run] wheels installed in $(( $(date +%s) - t0 )) s"
{ date -u; python3 --version; python3 -m pip list 2>/dev/null | grep -i -E \
  "^(torch|torchvision|torchaudio|transformers|accelerate|peft|huggingface.hub|tokenizers|pyarrow|fsspec|regex|safetensors|numpy|pillow|pandas) "; nvidia-smi; } > "$OUT/env.txt" 2>&1
export PYTHONPATH=$PWD:/tmp/site-common PYTHONUNBUFFERED=1
python3 "$HERE/gpu_bench.py" --root . --work /tmp/gb --out "$OUT" \
  --path-trl /tmp/site-trl:/tmp/site-common --path-lf /tmp/site-lf:/tmp/site-common "$@"
rc=$?
echo "[gpu_run] bench exit $rc after $(( $(date +%s) - t0 )) s"
cat "$OUT/gpu_bench.md" 2>/dev/null
exit $rc

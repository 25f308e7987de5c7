#!/usr/bin/env bash
# GPU benchmark in one run: the three transformer presets (bench/train_step.py) and the BT4
# config, FP32 and BF16, at batch sizes meant to fill one H100, each printing positions/s and
# MFU against a matmul peak in its compute dtype measured in the same process (8192² matmul);
# then the data loader's positions/s with one process per host core, all at once.
#
#   bench/gpu.sh [--smoke]          (make bench-gpu)
#
# Env: PYTHON (default .venv/bin/python), PRESET_BATCH (4096), BT4_BATCH (1024), LOADER_PROCS
# (default: nproc). --smoke runs the same paths at toy sizes on any device (CPU in the tests):
# tiny FP32, a shrunk BT4 in BF16, two loader processes for one second.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
SMOKE=0
case "${1:-}" in
  --smoke) SMOKE=1 ;;
  "") ;;
  *) echo "usage: bench/gpu.sh [--smoke]" >&2; exit 2 ;;
esac
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

step() {  # name, then bench/train_step.py arguments
  local name=$1; shift
  echo "== $name" >&2
  "$PYTHON" bench/train_step.py "$@" --json | tail -n 1 | sed "s/^{/{\"run\": \"$name\", /" >>"$OUT/steps.jsonl"
}

if [ "$SMOKE" = 1 ]; then
  SHRUNK_BT4=(--set model.embedding_size=32 --set model.embedding_dense_sz=8 --set model.embedding_dff=32
              --set model.encoder_layers=1 --set model.encoder_heads=2 --set model.encoder_dff=32
              --set model.smolgen_hidden_channels=4 --set model.smolgen_hidden_sz=16 --set model.smolgen_gen_sz=16
              --set model.policy_embedding_size=32 --set model.policy_d_model=32
              --set model.value_embedding_size=4 --set model.moves_left_embedding_size=2)
  step tiny-FP32 --preset tiny --batch-size 16 --precision FP32 --peak-size 256
  step bt4-shrunk-BF16 --config configs/bt4.textproto "${SHRUNK_BT4[@]}" --batch-size 16 --precision BF16 --peak-size 256
  PROCS=2 SECONDS_EACH=1 LOADER_BATCH=64
else
  for precision in FP32 BF16; do
    for preset in tiny small medium; do
      step "$preset-$precision" --preset "$preset" --batch-size "${PRESET_BATCH:-4096}" --precision "$precision" --peak-size 8192
    done
    step "bt4-$precision" --config configs/bt4.textproto --batch-size "${BT4_BATCH:-1024}" --precision "$precision" --peak-size 8192
  done
  PROCS=${LOADER_PROCS:-$(nproc)} SECONDS_EACH=10 LOADER_BATCH=1024
fi

echo "== loader x$PROCS" >&2
for i in $(seq "$PROCS"); do
  "$PYTHON" bench/loader.py --batch-size "$LOADER_BATCH" --seconds "$SECONDS_EACH" --seed "$i" --json >"$OUT/loader-$i.json" &
done
wait

"$PYTHON" - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
print(f"{'run':>18} {'batch':>6} {'pos/s':>10} {'ms/step':>9} {'MFU':>6} {'peak GFLOP/s':>13}  device")
for line in (out / "steps.jsonl").read_text().splitlines():
    r = json.loads(line)
    print(f"{r['run']:>18} {r['batch_size']:>6} {r['positions_per_s']:>10.1f} {r['step_ms_median']:>9.1f} {r['mfu']:>6.3f} "
          f"{r['matmul_peak_gflops']:>13.0f}  {r['device']}")
loaders = [json.loads(p.read_text()) for p in sorted(out.glob("loader-*.json"))]
total = sum(r["positions_per_s"] for r in loaders)
print(f"{'loader':>18} {len(loaders)} processes: {total:,.0f} positions/s in all")
PY

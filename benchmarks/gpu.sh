#!/usr/bin/env bash
# Issue 5's GPU measurements as one script, for a session lent a device machine (H100 or H200):
# random-initialised Llama-2-7B and Qwen2.5-7B architectures in bfloat16 (speed does not depend on
# the weights' values), unique and shared-prefix prompts, the lens over generation against plain
# greedy decoding (benchmarks/generation.py), then the read-out memory sweep.
#   bash benchmarks/gpu.sh                                                  # on the GPU machine
#   DEVICE=cpu DTYPE=float32 ARCHS=tiny-llama SHARED=tiny-llama N=32 BASE=4 D_MODEL=64 \
#     GEN=tiny-llama GEN_N=8 GEN_BATCH=4 bash benchmarks/gpu.sh
#                                                                           # a dry run on a CPU
# Everything printed goes to $OUT/gpu.log (OUT defaults to benchmarks/out) and each run's JSON
# line to $OUT/gpu.jsonl. The image there has torch, transformers, accelerate, pandas, jaxtyping and
# tqdm, which is all these need. 790 TFLOP/s is the H200's measured bfloat16 matrix rate.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-benchmarks/out}"
mkdir -p "$out"
export PYTHONPATH=. PYTHONUNBUFFERED=1
device="${DEVICE:-cuda}" dtype="${DTYPE:-bfloat16}"
common=(--device "$device" --dtype "$dtype" --n-prompts "${N:-1024}" --batch-size "${BATCH:-64}"
        --baseline-prompts "${BASE:-32}" --peak-tflops "${TFLOPS:-790}")
run() {
  python3 "$@" 2>&1 | tee -a "$out/gpu.log"
  tail -n 1 "$out/gpu.log" >>"$out/gpu.jsonl"
}
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true; } | tee "$out/gpu.log"
python3 -c "import torch, transformers; print('torch', torch.__version__, 'transformers', transformers.__version__)" \
  | tee -a "$out/gpu.log"
for arch in ${ARCHS:-llama-2-7b qwen2.5-7b}; do
  run benchmarks/throughput.py --arch "$arch" "${common[@]}"
done
for arch in ${SHARED:-llama-2-7b}; do
  run benchmarks/throughput.py --arch "$arch" "${common[@]}" --shared-prefix
done
for arch in ${GEN:-llama-2-7b}; do  # the lens over generation (issue 15) against plain decoding
  run benchmarks/generation.py --arch "$arch" --device "$device" --dtype "$dtype" \
    --n-prompts "${GEN_N:-256}" --batch-size "${GEN_BATCH:-64}"
done
run benchmarks/memory.py --device "$device" --d-model "${D_MODEL:-4096}" --layers 33 --prompts 1 64

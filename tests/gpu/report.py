"""GPU conformance report: the adapter suite on CUDA in bf16 and fp32 with batch_size=auto, and a
real out-of-memory back-off (a deliberately oversized batch). Writes one JSON report.

    python tests/gpu/report.py --out report.json      # what tests/gpu/run.sh runs
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def real_oom_backoff(device: str) -> dict:
    """Score long requests with batch_size far beyond memory: the sizer must halve on real CUDA
    OOM errors and still return every result, equal to a batch-1 run."""
    import torch

    from harness.models.base import LoglikelihoodRequest
    from harness.models.hf import HFAdapter
    from harness.testing import tiny_config, tokenizer
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    cfg = tiny_config("llama", hidden_size=1024, intermediate_size=4096, num_hidden_layers=4, max_position_embeddings=4096)
    model = AutoModelForCausalLM.from_config(cfg).to(device=device, dtype=torch.bfloat16).eval()
    free, _ = torch.cuda.mem_get_info()
    ctx = "word " * 3000
    reqs = [LoglikelihoodRequest(ctx + f"{i}", f" end {i}") for i in range(12)]
    # logits of one row: 3000 tokens x 49152 vocab x 4 bytes ~ 0.6 GB; ask for a batch that cannot fit
    big = max(16, int(free / 0.5e9))
    t0 = time.time()
    oversized = HFAdapter.from_model(model, tokenizer(), batch_size=big, max_batch_size=big)
    got = oversized.loglikelihood(reqs)
    elapsed = time.time() - t0
    want = HFAdapter.from_model(model, tokenizer(), batch_size=1).loglikelihood(reqs)
    worst = max(abs(a.logprob - b.logprob) for a, b in zip(got, want))
    return {"requested_batch": big, "final_batch": oversized.sizer.size(), "n_results": len(got),
            "max_abs_diff_vs_batch1": worst, "seconds": round(elapsed, 2),
            "halved": oversized.sizer.size() < big, "ok": len(got) == len(reqs) and worst < 0.05}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="gpu_report.json")
    args = parser.parse_args()
    import torch

    from harness.testing import hf_subject, nnsight_subject
    from harness.whitebox.conformance import run_all

    makers = [hf_subject]
    try:
        import nnsight  # noqa: F401

        makers.append(nnsight_subject)
    except ImportError:
        pass

    report: dict = {"cuda": torch.cuda.is_available(), "torch": torch.__version__, "suites": {}}
    if not torch.cuda.is_available():
        report["error"] = "no CUDA device"
    else:
        report["device_name"] = torch.cuda.get_device_name(0)
        for dtype in ("float32", "bfloat16"):
            for arch, maker in ((a, m) for a in ("llama", "gpt2", "neox", "gemma3") for m in makers):
                subject = maker(arch, device="cuda", dtype=dtype)
                make = subject.make
                subject.make = lambda batch_size=4, make=make: make(batch_size="auto" if batch_size == 4 else batch_size)
                t0 = time.time()
                report["suites"][subject.name] = {"checks": run_all(subject), "seconds": round(time.time() - t0, 2)}
        try:
            report["real_oom_backoff"] = real_oom_backoff("cuda")
        except Exception as err:  # noqa: BLE001 - the report says what broke
            report["real_oom_backoff"] = {"ok": False, "error": repr(err)}
    fails = [f"{s}:{c}" for s, r in report["suites"].items() for c, v in r["checks"].items() if v.startswith("FAIL")]
    report["failures"] = fails
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    sys.exit(1 if fails or not report.get("real_oom_backoff", {}).get("ok", False) else 0)


if __name__ == "__main__":
    main()

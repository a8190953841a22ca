"""Interchange engine: a full layer sweep of DAS training + evaluation, cached vs full forwards.

    OMP_NUM_THREADS=1 nice python tests/perf/bench_interventions.py            # all 30 layers of SmolLM2
    OMP_NUM_THREADS=1 nice python tests/perf/bench_interventions.py --quick    # every 6th layer, fewer pairs
    ... --json results/bench/interventions.json                                 # also write the figures

Workload (CausalGym-shaped): pairs from our ``agr_number_pp`` template, intervention at the
subject (an early position, so most of the sentence is recomputed), DAS rank 1 trained with the
paper's settings (Adam 5e-3, batch 4, 10% warm-up, one epoch) and evaluated on held-out pairs,
at every site 1..L.

* cached: ``InterchangeEngine.run`` once per input (timed, included), then for each layer
  training and evaluation through ``CachedProblem`` (only blocks above the site, only positions
  from the intervention on, prefix keys/values reused, logits only where read);
* full: ``HookedProblem``, the usual loop: every step runs a full source forward to read its
  state and a full base forward with a hook (what a pyvene-style script does).

Layers are interleaved (cached then full per layer) so load changes hit both alike. Both runs
start from the same seeded rotation and see the same batches: their eval log-odds must agree.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--n-train", type=int, default=None)
    parser.add_argument("--n-eval", type=int, default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures (with threads, load and versions) here")
    args = parser.parse_args()
    n_train = args.n_train or (8 if args.quick else 16)
    n_eval = args.n_eval or (8 if args.quick else 16)

    import os

    import torch

    from harness.bench_suite import context
    from harness.interventions import CachedProblem, HookedProblem, RotatedSubspace, TokenBatch, TrainConfig, train
    from harness.models.embedded import load_embedded
    from harness_plugins.causalgym.metrics import logodds_effect
    from harness_plugins.causalgym.pairs import make_splits
    from harness_plugins.causalgym.prepare import prepare
    from harness_plugins.causalgym.templates import load_templates

    adapter = load_embedded("smollm2-135m")
    template = load_templates(REPO / "tasks" / "causalgym" / "data" / "templates.json")["agr_number_pp"]
    splits = make_splits(template, {"train": n_train, "dev": n_eval}, seed=0)
    tr, ev = (prepare(splits[s], adapter.tokenizer, template) for s in ("train", "dev"))
    span = template.first_label_span
    engine = adapter.interchange_engine()
    pad = engine.pad_id
    sites = list(range(1, engine.num_layers + 1, 6 if args.quick else 1))
    cfg = TrainConfig(lr=5e-3, batch_size=4, epochs=1, warmup=0.1, seed=0)

    def batch(ids):
        return TokenBatch.from_ids(ids, pad_id=pad)

    def pos(prep, side):
        return torch.tensor([getattr(prep, f"{side}_pos")[i][span] for i in range(len(prep))])

    tr_b, tr_s, ev_b, ev_s = batch(tr.base_ids), batch(tr.src_ids), batch(ev.base_ids), batch(ev.src_ids)
    targets = torch.tensor(tr.src_label)

    t0 = time.perf_counter()
    runs = {name: engine.run(b) for name, b in (("tr_b", tr_b), ("tr_s", tr_s), ("ev_b", ev_b), ("ev_s", ev_s))}
    clean = engine.clean_logits(runs["ev_b"])
    cached_time = time.perf_counter() - t0
    full_time = 0.0
    worst = 0.0
    rows = []
    load_before = os.getloadavg()
    print(f"SmolLM2-135M, {len(sites)} layers, {n_train} train / {n_eval} eval pairs, DAS {len(range(0, n_train, 4))} steps per layer")
    print(f"{'site':>4} {'cached s':>9} {'full s':>8} {'ratio':>6} {'log-odds cached':>16} {'log-odds full':>14}")
    for site in sites:
        results = {}
        for kind in ("cached", "full"):
            t = time.perf_counter()
            if kind == "cached":
                train_p = CachedProblem.build(engine, runs["tr_b"], runs["tr_s"], site, pos(tr, "base"), pos(tr, "src"), targets)
                eval_p = CachedProblem.build(engine, runs["ev_b"], runs["ev_s"], site, pos(ev, "base"), pos(ev, "src"))
            else:
                train_p = HookedProblem(engine, tr_b, tr_s, site, pos(tr, "base"), pos(tr, "src"), targets)
                eval_p = HookedProblem(engine, ev_b, ev_s, site, pos(ev, "base"), pos(ev, "src"))
            module = RotatedSubspace(adapter.hidden_size, rank=1, seed=0)
            train(train_p, module, cfg)
            with torch.no_grad():
                logits = eval_p.logits(module)
            effect = float(logodds_effect(logits, clean, ev.base_label, ev.src_label).mean())
            elapsed = time.perf_counter() - t
            results[kind] = (elapsed, effect)
        cached_time += results["cached"][0]
        full_time += results["full"][0]
        worst = max(worst, abs(results["cached"][1] - results["full"][1]))
        rows.append({"site": site, "cached_s": round(results["cached"][0], 3), "full_s": round(results["full"][0], 3),
                     "logodds_cached": results["cached"][1], "logodds_full": results["full"][1]})
        print(f"{site:>4} {results['cached'][0]:>9.2f} {results['full'][0]:>8.2f} {results['full'][0] / results['cached'][0]:>6.2f}"
              f" {results['cached'][1]:>16.4f} {results['full'][1]:>14.4f}", flush=True)
    print(f"\ntotal: cached {cached_time:.1f} s (incl. the clean runs), full forwards with hooks {full_time:.1f} s")
    print(f"speed-up of the layer sweep: {full_time / cached_time:.2f}x (target >= 2x)")
    print(f"largest |log-odds cached - full| after training: {worst:.2e}")
    if args.json:
        import json

        doc = {"command": "python tests/perf/bench_interventions.py" + (" --quick" if args.quick else ""),
               "model": "smollm2-135m", "n_train": n_train, "n_eval": n_eval, "sites": rows,
               "cached_seconds_incl_clean_runs": round(cached_time, 2), "full_seconds": round(full_time, 2),
               "speedup": round(full_time / cached_time, 2), "max_abs_logodds_difference": worst, "threads": torch.get_num_threads(),
               "context": {**context(0), "load_before": load_before, "load_after": os.getloadavg()}}
        args.json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    if worst > 1e-2:
        sys.exit("cached and full runs disagree")


if __name__ == "__main__":
    main()

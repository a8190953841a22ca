"""LLM-usage estimator: speed against a naive per-sentence implementation, peak memory on
large corpora, and the 22 validation numbers against the paper.

    nice python tests/perf/bench_llm_usage.py                 # speed + memory (refdata CS if present)
    nice python tests/perf/bench_llm_usage.py --refdata       # the 22-number validation table (+ correction)
    nice python tests/perf/bench_llm_usage.py --quick         # smaller sizes, for a smoke run

Speed: fit the word table (human + AI training corpora) and estimate alpha with 1,000
bootstrap re-fits on a 30,000-sentence validation file, with the harness's implementation
(streamed Arrow chunks, sparse products, vectorised bounded Newton) and with
:mod:`harness_plugins.llm_usage.naive` (Python sets and dictionaries, log P(x) summed over the whole
vocabulary per sentence, one L-BFGS-B fit per bootstrap replicate). Both run in this
process, one after the other, on the same files; ratios are naive / ours.

Memory: ``harness llm-usage estimate`` (1,000 bootstraps) in a fresh subprocess on corpora
of 30k, 300k and 1M sentences (the validation file repeated, written in row groups); the
peak resident set size of that process is reported (VmHWM from /proc; ``ru_maxrss`` would
include the parent's peak, which a forked child inherits on Linux).

Without ../shared/refdata the speed and memory runs use synthetic Bernoulli corpora of the
same sizes.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
REFDATA = REPO.parent / "shared" / "refdata" / "llm_usage"
sys.path.insert(0, str(REPO))

PAPER = {"CS": {0.0: 0.025, 0.05: 0.080, 0.1: 0.128, 0.25: 0.270}, "Math": {0.0: 0.021, 0.05: 0.072, 0.1: 0.114, 0.25: 0.249}}
ALPHAS = ["0", "0.025", "0.05", "0.075", "0.1", "0.125", "0.15", "0.175", "0.2", "0.225", "0.25"]


def write_lists(path: Path, sentences, column: str, repeat: int = 1) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arr = sentences if isinstance(sentences, pa.Array) else pa.array(sentences, type=pa.list_(pa.string()))
    with pq.ParquetWriter(path, pa.schema([(column, arr.type)])) as writer:
        for _ in range(repeat):
            writer.write_table(pa.table({column: arr}), row_group_size=50_000)
    return path


def synthetic_files(root: Path, n_human: int, n_ai: int, n_val: int) -> dict[str, Path]:
    sys.path.insert(0, str(REPO / "tests" / "llm_usage"))
    from llm_usage_helpers import BernoulliWorld

    world = BernoulliWorld(n_words=3000, seed=0)
    world.p, world.q = world.p / 6, world.q / 6  # ~25 words per sentence, as in the real data
    files = {
        "human": write_lists(root / "human.parquet", world.human(n_human), "human_sentence"),
        "ai": write_lists(root / "ai.parquet", world.ai(n_ai), "ai_sentence"),
    }
    n_ai_val = n_val // 10
    files["validation"] = write_lists(root / "val.parquet", world.human(n_val - n_ai_val) + world.ai(n_ai_val), "inference_sentence")
    return files


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def speed(files: dict[str, Path], n_bootstrap: int, naive_sentences: int | None) -> dict:
    import pyarrow.parquet as pq

    from harness_plugins.llm_usage.corpus import iter_chunks
    from harness_plugins.llm_usage.fit import WordDistribution
    from harness_plugins.llm_usage.likelihood import log_ratios
    from harness_plugins.llm_usage.mle import estimate_alpha
    from harness_plugins.llm_usage.naive import naive_bootstrap, naive_fit, naive_log_likelihoods

    ours: dict[str, float] = {}
    table, ours["fit"] = timed(lambda: WordDistribution().fit(iter_chunks(files["human"]), iter_chunks(files["ai"])).table_)
    d, ours["log_likelihood"] = timed(lambda: log_ratios(table, iter_chunks(files["validation"])))
    est, ours["bootstrap"] = timed(lambda: estimate_alpha(d, n_bootstrap=n_bootstrap, seed=0))

    def read(path):
        return [list(s) for s in pq.read_table(path).column(0).to_pylist()]

    naive: dict[str, float] = {}
    ntable, naive["fit"] = timed(lambda: naive_fit(read(files["human"]), read(files["ai"])))
    sentences = [s for s in read(files["validation"]) if len(s) > 1]
    subset = sentences if naive_sentences is None else sentences[:naive_sentences]
    (lp, lq), t = timed(lambda: naive_log_likelihoods(ntable, subset))
    naive_d = np.array(lq) - np.array(lp)
    np.testing.assert_allclose(naive_d, d[: len(subset)], rtol=0, atol=1e-8)  # the same numbers
    naive["log_likelihood"] = t * len(sentences) / len(subset)  # measured, not scaled, when subset is everything
    boot_d = naive_d if len(subset) == len(sentences) else d
    (mid, low, high), naive["bootstrap"] = timed(lambda: naive_bootstrap(np.zeros(len(boot_d)), boot_d, n_bootstrap=n_bootstrap, seed=0))
    ours["total"], naive["total"] = sum(ours.values()), sum(naive.values())
    return {
        "n_validation_sentences": len(d), "vocabulary": len(table), "n_bootstrap": n_bootstrap,
        "naive_log_likelihood_sentences_timed": len(subset),
        "ours_s": ours, "naive_s": naive, "ratio": {k: naive[k] / ours[k] for k in ours},
        "alpha_ours": [est.alpha, est.ci_low, est.ci_high], "alpha_naive": [mid, low, high],
    }


def memory(validation: Path, table: Path, sizes: list[int], n_bootstrap: int, root: Path) -> list[dict]:
    import pyarrow.parquet as pq

    base = pq.read_table(validation).column(0).combine_chunks()
    rows = []
    for size in sizes:
        repeat = -(-size // len(base))
        path = write_lists(root / f"corpus_{size}.parquet", base, "inference_sentence", repeat=repeat)
        code = (
            "import resource, sys, time, json; t = time.perf_counter(); from harness.cli import main; "
            f"rc = main(['llm-usage', 'estimate', '--table', {str(table)!r}, '--corpus', {str(path)!r}, '--bootstrap', '{n_bootstrap}', '--json', '--no-calibration']); "
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM:')]; "
            "peak = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024; "
            "print(json.dumps({'rc': rc, 'seconds': time.perf_counter() - t, 'maxrss_mb': peak}), file=sys.stderr)"
        )
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
        stats = json.loads(res.stderr.strip().splitlines()[-1])
        estimate = json.loads(res.stdout)[0]
        rows.append({"sentences": estimate["n_sentences"], "peak_rss_mb": round(stats["maxrss_mb"], 1), "seconds": round(stats["seconds"], 1),
                     "alpha": round(estimate["alpha"], 4)})
        print(f"  {rows[-1]}", flush=True)
    return rows


def refdata_table(n_bootstrap: int) -> None:
    """All 22 validation numbers: our fit, the reference table, the paper, and the correction."""
    from harness_plugins.llm_usage.calibration import calibrate
    from harness_plugins.llm_usage.corpus import iter_chunks
    from harness_plugins.llm_usage.fit import WordDistribution
    from harness_plugins.llm_usage.likelihood import log_ratios
    from harness_plugins.llm_usage.mle import estimate_alpha
    from harness_plugins.llm_usage.table import WordTable

    print("| field | true α | paper | α̂ (our fit) | 95% interval | α̂ (reference table) | |α̂ − paper| | corrected | error plain | error corrected |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    summary = {}
    for field in ("CS", "Math"):
        human, ai = REFDATA / "training_data" / field / "human_data.parquet", REFDATA / "training_data" / field / "ai_data.parquet"
        table = WordDistribution().fit(iter_chunks(human), iter_chunks(ai)).table_
        reference = WordTable.load(REFDATA / "reference_distribution" / f"{field}.csv")
        cal = calibrate(lambda: iter_chunks(human), lambda: iter_chunks(ai), folds=5, seed=0)
        errs, cerrs = [], []
        for a in ALPHAS:
            path = REFDATA / "validation_data" / field / f"ground_truth_alpha_{a}.parquet"
            est = estimate_alpha(log_ratios(table, iter_chunks(path)), n_bootstrap=n_bootstrap, seed=0)
            ref = estimate_alpha(log_ratios(reference, iter_chunks(path)), n_bootstrap=n_bootstrap, seed=0)
            cor = cal.correct_estimate(est)
            paper = PAPER[field].get(float(a))
            errs.append(est.alpha - float(a))
            cerrs.append(cor.alpha - float(a))
            print(f"| {field} | {float(a):.3f} | {paper if paper is not None else '–'} | {est.alpha:.4f} | [{est.ci_low:.4f}, {est.ci_high:.4f}] | "
                  f"{ref.alpha:.4f} | {abs(est.alpha - paper):.4f} | {cor.alpha:.4f} | {errs[-1]:+.4f} | {cerrs[-1]:+.4f} |"
                  if paper is not None else
                  f"| {field} | {float(a):.3f} | – | {est.alpha:.4f} | [{est.ci_low:.4f}, {est.ci_high:.4f}] | {ref.alpha:.4f} | – | "
                  f"{cor.alpha:.4f} | {errs[-1]:+.4f} | {cerrs[-1]:+.4f} |", flush=True)
        summary[field] = {"mae_plain": float(np.mean(np.abs(errs))), "mae_corrected": float(np.mean(np.abs(cerrs))),
                          "calibration_bias_at_0": cal.error_at(0.0)}
    print(json.dumps(summary, indent=2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--refdata", action="store_true", help="print the 22-number validation table and exit")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--naive-sentences", type=int, default=None,
                        help="time the naive log-likelihood on the first N sentences and scale linearly (default: all)")
    parser.add_argument("--memory-sizes", default="30000,300000,1000000")
    parser.add_argument("--memory-only", action="store_true", help="skip the speed comparison")
    parser.add_argument("--json", type=Path, default=None, help="also write the measurements here")
    args = parser.parse_args()
    if args.refdata:
        if not REFDATA.is_dir():
            print(f"no reference data at {REFDATA}", file=sys.stderr)
            return 1
        refdata_table(args.bootstrap)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if REFDATA.is_dir() and not args.quick:
            files = {"human": REFDATA / "training_data/CS/human_data.parquet", "ai": REFDATA / "training_data/CS/ai_data.parquet",
                     "validation": REFDATA / "validation_data/CS/ground_truth_alpha_0.1.parquet"}
            source = "refdata CS (ground_truth_alpha_0.1, 30,000 sentences)"
        else:
            n = 3000 if args.quick else 30_000
            files = synthetic_files(root, 4 * n // 3, 2 * n, n)
            source = f"synthetic Bernoulli corpora ({n} validation sentences)"
        from harness import bench_suite, threads

        result: dict = {"command": "python tests/perf/bench_llm_usage.py " + " ".join(sys.argv[1:]), "context": bench_suite.context(0),
                        "loadavg_before": threads.loadavg()}
        if not args.memory_only:
            print(f"speed on {source}, {args.bootstrap} bootstraps", flush=True)
            result.update(speed(files, args.bootstrap, args.naive_sentences))
            for key in ("fit", "log_likelihood", "bootstrap", "total"):
                print(f"  {key:<15} ours {result['ours_s'][key]:8.2f} s   naive {result['naive_s'][key]:8.2f} s   ratio {result['ratio'][key]:7.1f}x")
            print(f"  alpha ours {np.round(result['alpha_ours'], 4).tolist()}  naive {np.round(result['alpha_naive'], 4).tolist()}", flush=True)
        from harness_plugins.llm_usage.corpus import iter_chunks
        from harness_plugins.llm_usage.fit import WordDistribution

        table = WordDistribution().fit(iter_chunks(files["human"]), iter_chunks(files["ai"])).table_.save(root / "table.csv")
        sizes = [int(s) for s in args.memory_sizes.split(",")] if not args.quick else [3000, 30000]
        print(f"peak memory (VmHWM) of `harness llm-usage estimate` ({args.bootstrap} bootstraps):", flush=True)
        result["memory"] = memory(files["validation"], table, sizes, args.bootstrap, root)
        result["source"] = source
        result["self_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        result["loadavg_after"] = threads.loadavg()
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""MeLLo per case, this checkout against a reference checkout (e.g. the main the speed issue was
filed against), each as its own ``harness run`` in a subprocess on the same cases:

    python tests/perf/bench_mello.py --reference ../ref-checkout --cases 8 --repeats 2 \
        --json results/bench/mello.json

Both sides run the same task (default ``mquake_hard_mello_k1_q1``: the 100 four-hop cases with
the paper's prompt, memory of one case's edits, first question; needs ``$HARNESS_REFDATA``),
limited to the first ``--cases`` cases, at ``--threads`` (default 1), with per-sample logs.
Runs alternate (reference, this, reference, this, ...) so that load changes hit both sides; the
time per case is the task's own wall time from its results file (model loading excluded) over
the number of cases. Every MeLLo generation of every case is compared between the two sides.

The reference runs with this interpreter's installed dependencies but its own ``harness`` and
plugins: a temporary site folder links every installed package except this project's, and
declares the reference's entry points.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OWN_DIST = "interp_harness"


def reference_site(reference: Path, folder: Path) -> Path:
    """A site folder: the installed packages minus this project, plus the reference's entry points."""
    site = Path(sysconfig.get_paths()["purelib"])
    folder.mkdir()
    for entry in site.iterdir():
        if entry.name.startswith(("__editable__", OWN_DIST)) or entry.name.endswith(".pth"):
            continue
        (folder / entry.name).symlink_to(entry)
    meta = tomllib.loads((reference / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dist = folder / "reference_checkout-0.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: reference-checkout\nVersion: 0.0.0\n", encoding="utf-8")
    lines = []
    for group, entries in meta.get("entry-points", {}).items():
        lines += [f"[{group}]"] + [f"{k} = {v}" for k, v in entries.items()] + [""]
    (dist / "entry_points.txt").write_text("\n".join(lines), encoding="utf-8")
    return folder


def run_side(checkout: Path, site: Path | None, task: str, cases: int, threads: str, out: Path) -> dict:
    """One ``harness run`` of ``task`` on ``cases`` cases; its per-task wall time and sample logs."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": threads if threads != "auto" else os.environ.get("OMP_NUM_THREADS", "")}
    cmd = [sys.executable]
    if site is not None:  # the reference: its own harness first on the path, this project's hidden
        env["PYTHONPATH"] = str(checkout)
        cmd += ["-S", "-c", f"import site,sys; site.addsitedir({str(site)!r}); sys.argv=['harness']+sys.argv[1:]; "
                            "from harness.cli import main; main()"]
    else:
        cmd += ["-m", "harness"]
    cmd += ["run", "--tasks", task, "--limit", str(cases), "--output-path", str(out), "--log-samples", "--no-progress"]
    if site is None or "--threads" in (checkout / "harness/cli.py").read_text(encoding="utf-8"):
        cmd += ["--threads", threads]
    subprocess.run(cmd, cwd=checkout, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    results = json.loads(next(out.rglob("results_*.json")).read_text(encoding="utf-8"))
    samples = [json.loads(line) for f in out.rglob("samples_*.jsonl") for line in f.read_text(encoding="utf-8").splitlines() if line]
    gens = {s["sample_id"]: ([[it["generation"] for it in q["iterations"]] for q in s["log"]["questions"]], s["values"]) for s in samples}
    return {"seconds": results["tasks"][task]["wall_seconds"], "cases": len(samples), "generations": gens}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reference", type=Path, required=True, help="another checkout of the harness")
    ap.add_argument("--task", default="mquake_hard_mello_k1_q1")
    ap.add_argument("--cases", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", default="1")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from harness.bench_suite import context

    before = os.getloadavg()
    times: dict[str, list[float]] = {"reference": [], "this": []}
    gens: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-mello-") as tmp:
        site = reference_site(args.reference.resolve(), Path(tmp) / "site")
        for rep in range(args.repeats):
            for name, checkout, side_site in (("reference", args.reference.resolve(), site), ("this", REPO, None)):
                got = run_side(checkout, side_site, args.task, args.cases, args.threads, Path(tmp) / f"{name}{rep}")
                times[name].append(got["seconds"] / got["cases"])
                gens[name] = got["generations"]
    same = [k for k in gens["this"] if gens["reference"].get(k) == gens["this"][k]]
    med = {k: statistics.median(v) for k, v in times.items()}
    doc = {
        "task": args.task, "cases": len(gens["this"]), "repeats": args.repeats, "threads": args.threads,
        "seconds_per_case": {k: round(v, 3) for k, v in med.items()}, "all_seconds_per_case": times,
        "speedup": round(med["reference"] / med["this"], 2),
        "identical_cases": len(same), "differing_cases": sorted(set(gens["this"]) - set(same)),
        "reference": str(args.reference), "reference_commit": _commit(args.reference),
        "context": {**context(0), "load_before": before, "load_after": os.getloadavg()},
    }
    print(json.dumps({k: v for k, v in doc.items() if k != "context"}, indent=1))
    if args.json:
        args.json.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")


def _commit(checkout: Path) -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


if __name__ == "__main__":
    main()

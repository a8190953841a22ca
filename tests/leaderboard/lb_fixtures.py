"""A results folder in the runner's format: several models, runs and tasks, with rich
``details`` for the four plugins' plot kinds (in the shapes their benchmarks write), a model with a hostile name and some broken files."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
EVIL = "<script>alert(1)</script>"
EVIL_ATTR = "\"'><img src=x onerror=\"window.__pwned=1\">"
FORMULA = '=HYPERLINK("http://example.invalid","x")'

# benchmark -> (plugin, tasks, {metric: (display_name, higher_is_better)})
BENCHMARKS = {
    "causalgym": ("causalgym", ["causalgym_agr_gender", "causalgym_npi_any"], {"log_odds": ("Log-odds effect", True), "accuracy": ("Accuracy", True)}),
    "ravel": ("ravel", ["ravel_city"], {"disentangle": ("Disentangle", True), "cause": ("Cause", True), "isolate": ("Isolate", True),
                                        "das/cause": ("Cause (DAS)", True)}),  # a registered per-method variant
    "activation_decoding_truthfulqa_mc": ("activation_decoding", ["truthfulqa_mc_activation"], {"mc1": ("MC1", True), "mc2": ("MC2", True)}),
    "llm_usage": ("llm_usage", ["llm_usage_validation", "llm_usage_months"], {"mae": ("alpha MAE", False), "coverage": ("95% CI coverage", True)}),
    # no installed plugin registers this one: names come from the results file
    "thirdparty_bench": ("thirdparty", ["thirdparty_task"], {"error_rate": ("Error rate", False)}),
}
METHODS = ["das", "mean_diff", "probe"]
# decoding settings as the activation-decoding plugin labels them; the first is the primary one
SETTINGS = ["greedy", "dola,layers=low"] + [f"activation,alpha={a},info_layer=4" for a in (0.25, 0.5, 1)] + [
    f"activation_dola,layers=low,alpha={a},info_layer=4" for a in (0.5, 1)
]


@dataclass
class Tree:
    root: Path
    runs: list[dict[str, Any]] = field(default_factory=list)  # (path, doc) of the good files
    bad_files: dict[str, str] = field(default_factory=dict)  # path -> words the message must contain
    plugin_dir: Path | None = None

    def newest(self, model: str, task: str) -> dict[str, Any]:
        docs = [r["doc"] for r in self.runs if r["doc"]["model"]["name"] == model and task in r["doc"]["results"]]
        return max(docs, key=lambda d: d["created"])

    def models(self) -> list[str]:
        return sorted({r["doc"]["model"]["name"] for r in self.runs})


def _details(benchmark: str, task: str, rng: random.Random, n_layers: int) -> Any:
    if benchmark == "causalgym":  # as the CausalGym benchmark writes it: task -> method -> site -> max log-odds
        curves = {cg: {m: {str(layer): round(rng.uniform(-1, 4) * (layer + 1) / n_layers, 4) for layer in range(n_layers)}
                       for m in METHODS} for cg in ("agr_gender", "agr_sv_num_subj-relc")}
        return {"curves": curves, "methods": METHODS, "common_sites": list(range(n_layers))}
    if benchmark == "ravel":
        methods = {m: {"cause": rng.uniform(0.2, 0.9), "isolate": rng.uniform(0.2, 0.9), "test/cause": 0.5} for m in METHODS}
        for scores in methods.values():
            scores["disentangle"] = (scores["cause"] + scores["isolate"]) / 2
        return {"methods": methods, "primary": METHODS[0], "layer": 3}
    if benchmark == "activation_decoding_truthfulqa_mc":
        return {"settings": {s: {"mc1": rng.uniform(0.2, 0.3), "mc2": rng.uniform(0.35, 0.5)} for s in SETTINGS}, "primary": SETTINGS[0]}
    if task == "llm_usage_validation":
        rows = []
        for a in (0.0, 0.05, 0.1, 0.25):
            est = a + rng.uniform(0.0, 0.03)
            fixed = est - 0.012  # the plugin's bias-corrected estimate
            rows.append({"true_alpha": a, "alpha": est, "ci_low": est - 0.01, "ci_high": est + 0.01, "mle": est,
                         "corrected_alpha": fixed, "corrected_ci_low": fixed - 0.01, "corrected_ci_high": fixed + 0.01})
        return {"mixtures": rows, "vocabulary": 1234}  # as the llm_usage plugin writes them
    if task == "llm_usage_months":
        rows = []
        for m in range(1, 9):  # records as the llm_usage benchmark writes them (GroupEstimate)
            est = 0.01 * m + rng.uniform(0, 0.01)
            rows.append({"group": f"2023-{m:02d}", "alpha_hat": est, "ci_low": est - 0.005, "ci_high": est + 0.006, "mle": est,
                         "n_sentences": 900, "n_documents": 30, "n_bootstrap": 100})
        return {"groups": rows, "estimate": "corpus.txt", "group_by": "month"}
    return None


def make_run(model: str, created: str, tasks: list[str], rng: random.Random, n_layers: int = 6, with_details: bool = True) -> dict[str, Any]:
    results, stderr, metas, details = {}, {}, {}, {}
    for benchmark, (plugin, names, metrics) in BENCHMARKS.items():
        for task in names:
            if task not in tasks:
                continue
            results[task] = {m: round(rng.uniform(0.05, 0.95), 6) for m in metrics}
            if benchmark == "ravel":
                results[task]["disentangle"] = (results[task]["cause"] + results[task]["isolate"]) / 2
            metas[task] = {
                "benchmark": benchmark, "plugin": plugin, "description": f"{benchmark} task {task}",
                "n_samples": rng.randint(20, 60), "wall_seconds": 1.0, "samples_file": f"samples_{task}_abc.jsonl",
                "metrics": {m: {"display_name": f"file:{label}", "higher_is_better": hib} for m, (label, hib) in metrics.items()},
            }
            d = _details(benchmark, task, rng, n_layers)
            if benchmark == "activation_decoding_truthfulqa_mc":  # per-setting metrics, the primary one also plain
                for setting, values in d["settings"].items():
                    results[task].update({f"{setting}/{m}": v for m, v in values.items()})
                results[task].update(d["settings"][SETTINGS[0]])
            stderr[task] = {m: round(rng.uniform(0.001, 0.03), 6) for m in results[task]}
            if with_details and d is not None:
                details[task] = d
    return {
        "schema_version": 1, "run_id": f"run-{rng.randrange(16**8):08x}", "created": created,
        "model": {"name": model, "adapter": "hf", "args": {}, "fingerprint": "f" * 16},
        "config": {"tasks": tasks, "limit": None, "seed": 1234, "batch_size": "auto"},
        "environment": {"python": "3.11", "packages": {}, "git_hash": None},
        "results": results, "stderr": stderr, "tasks": metas, "details": details, "wall_seconds": 12.5,
    }


ALL_TASKS = [t for _, names, _ in BENCHMARKS.values() for t in names]
PLOTTED = {plugin: benchmark for benchmark, (plugin, _, _) in BENCHMARKS.items() if plugin != "thirdparty"}

PLUGIN_SOURCE = '''
"""A real plugin module registering the built-in benchmarks' metrics (display names differ
from the results files', so the tests can tell which source won)."""
from harness.hookspecs import hookimpl
from harness.registry import BenchmarkSpec, MetricSpec

SPECS = {specs!r}

@hookimpl
def harness_register_benchmarks():
    return [
        BenchmarkSpec(name=b, implementation="builtins:object", description="registered " + b,
                      metrics=tuple(MetricSpec(m, "plugin:" + label, hib) for m, label, hib in metrics))
        for b, metrics in SPECS.items()
    ]

@hookimpl
def harness_leaderboard_plots():
    """The built-in plugins' own plot kinds (those plugins are not loaded here), each aimed at
    the benchmark of that plugin by name."""
    from dataclasses import replace
    from importlib import import_module

    return [replace(spec, benchmarks=(benchmark,))
            for plugin, benchmark in PLOTTED.items()
            for spec in import_module("harness_plugins." + plugin + ".plugin").harness_leaderboard_plots()]

PLOTTED = {plotted!r}
'''


def write_tree(root: Path) -> Tree:
    rng = random.Random(7)
    tree = Tree(root)

    def put(rel: str, doc: dict[str, Any]) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
        tree.runs.append({"path": path, "doc": doc})

    put("smollm2-135m/results_20261101-100000.json", make_run("smollm2-135m", "2026-11-01T10:00:00Z", ALL_TASKS, rng))
    put("smollm2-135m/results_20261120-090000.json", make_run("smollm2-135m", "2026-11-20T09:00:00Z", ALL_TASKS, rng, n_layers=8))
    # newest smollm2 run covers one task only: the other tasks keep the 2026-11-20 run
    latest = make_run("smollm2-135m", "2026-11-21T12:00:00+00:00", ["ravel_city"], rng)  # the runner's time format
    latest["errors"] = {"causalgym_npi_any": "Traceback...\nRuntimeError: the model ran out of memory"}
    put("smollm2-135m/results_20261121-120000.json", latest)
    put("gemma3-270m/nested/deeper/results_20261119-080000.json", make_run("gemma3-270m", "2026-11-19T08:00:00Z", ALL_TASKS, rng, n_layers=10))
    # hostile names: in the model name and in a task name; no details, so its plots are left out with notes
    evil_run = make_run(EVIL, "2026-11-18T08:00:00Z", ["causalgym_agr_gender", "ravel_city"], rng, with_details=False)
    evil_run["model"]["name"] = EVIL
    evil_run["run_id"] = EVIL_ATTR
    put("evil/results_20261118-080000.json", evil_run)
    put("attr/results_20261118-090000.json", make_run(EVIL_ATTR, "2026-11-18T09:00:00Z", ["thirdparty_task", "ravel_city"], rng))

    def bad(rel: str, content: bytes, words: str) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        tree.bad_files[str(path)] = words

    bad("broken/results_20261120-000000.json", b'{"schema_version": 1, "model": {"name": "x"}, "results": {', "not valid JSON")
    bad("broken/results_20261120-000001.json", b"[1, 2, 3]", "JSON object")
    bad("broken/results_20261120-000002.json", b'{"results": {"t": {"m": 1}}}', "model.name")
    bad("broken/results_20261120-000003.json", b"\xff\xfe\x00garbage\x9c", "cannot be read")
    # one bad value in an otherwise good file: that value is dropped, the rest is used
    odd = make_run("odd-model", "2026-11-17T00:00:00Z", ["thirdparty_task"], rng)
    odd["results"]["thirdparty_task"]["weird"] = "n/a"
    odd["run_id"] = FORMULA
    put("odd/results_20261117-000000.json", odd)
    tree.bad_files[str(root / "odd/results_20261117-000000.json")] = "results.thirdparty_task.weird"

    plugin_dir = root.parent / "plugin_src"
    plugin_dir.mkdir(exist_ok=True)
    specs = {b: [(m, label, hib) for m, (label, hib) in metrics.items()] for b, (_, _, metrics) in BENCHMARKS.items() if b != "thirdparty_bench"}
    (plugin_dir / "lb_test_plugin.py").write_text(textwrap.dedent(PLUGIN_SOURCE.format(specs=specs, plotted=PLOTTED)), encoding="utf-8")
    tree.plugin_dir = plugin_dir
    return tree


def run_leaderboard(tree: Tree, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, HARNESS_DISABLE_PLUGIN_AUTOLOAD="1", MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(tree.plugin_dir), str(REPO), env.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, "-m", "harness.leaderboard", str(tree.root), "--out", str(out), "--plugin", "lb_test_plugin", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)

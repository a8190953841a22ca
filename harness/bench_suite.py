"""``harness bench suite`` and ``harness bench threads``: what users wait for, and under load.

* ``suite``: the default suite (``harness run``) in a subprocess; wall and CPU seconds of the
  whole run and of each task (from its results file), with the threads each task used and the
  headline metrics, so a faster suite can be checked to still separate methods from baselines.
* ``threads``: one prefill and one greedy decode of SmolLM2 at 1 thread, at one per core (torch's
  default) and at what ``auto`` picks, interleaved in one process: the measurement behind the
  ``auto`` policy (:mod:`harness.threads`).

``--load N`` starts N busy processes (pure Python loops) for the duration and stops them on any
exit, errors and Ctrl-C included; each also stops by itself when this process disappears.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

from harness import threads
from harness.models.embedded import CACHE_ENV

# Each busy process spins until its parent is gone (so a killed bench leaves nothing running).
BUSY_LOOP = "import os,sys\nparent=int(sys.argv[1])\nwhile os.getppid()==parent:\n    for _ in range(200000): pass\n"


@contextlib.contextmanager
def busy_processes(n: int) -> Iterator[list[subprocess.Popen]]:
    """Run ``n`` CPU-bound processes while the block runs; always stop them afterwards."""
    procs: list[subprocess.Popen] = []
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # a terminated bench still stops its load and its `harness run`
    try:
        for _ in range(n):
            procs.append(subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(os.getpid())],
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
        if n:
            time.sleep(1.0)  # let them reach full speed before anything is timed
        yield procs
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def context(load: int) -> dict[str, Any]:
    """Machine, versions and load: recorded next to every figure."""
    from harness.results import environment_info

    return {**threads.machine(), "versions": environment_info()["packages"], "git_hash": environment_info()["git_hash"],
            "extra_busy_processes": load}


def bench_suite(tasks: str = "default", model_args: str = "", threads_setting: str | None = None,
                extra: list[str] | None = None, warm_cache: bool = False) -> dict[str, Any]:
    """One ``harness run`` in a subprocess: wall and CPU seconds, per task and in total.

    Unless ``warm_cache``, the run gets an empty cache folder (as on a newcomer's first run:
    instances a benchmark caches, such as RAVEL's, are built), sharing only the converted
    embedded models, whose one-time conversion is not what the suite's speed is about."""
    with tempfile.TemporaryDirectory(prefix="harness-bench-suite-") as tmp:
        env = dict(os.environ)
        if not warm_cache:
            env[CACHE_ENV] = _fresh_cache(Path(tmp) / "cache")
        cmd = [sys.executable, "-m", "harness", "run", "--tasks", tasks, "--output-path", tmp, "--no-progress"]
        if model_args:
            cmd += ["--model-args", model_args]
        if threads_setting:
            cmd += ["--threads", str(threads_setting)]
        cmd += extra or []
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load_before, t0 = threads.loadavg(), time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        files = sorted(Path(tmp).glob("*/results_*.json"))
        if proc.returncode != 0 or not files:
            raise RuntimeError(f"`{' '.join(cmd[1:])}` exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")
        doc = json.loads(files[-1].read_text())
    per_task = {name: {"wall_seconds": meta["wall_seconds"], "cpu_seconds": meta.get("cpu_seconds"),
                       "threads": meta.get("threads"), "busy_cores_at_start": meta.get("busy_cores_at_start"),
                       "n_samples": meta["n_samples"],
                       "metrics": doc["results"][name], "stderr": doc["stderr"].get(name, {})}
                for name, meta in doc["tasks"].items()}
    return {
        "command": " ".join(["harness", *cmd[3:]]).replace(tmp, "TMP"),
        "wall_seconds": round(wall, 2),
        "cpu_seconds": round((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime), 2),
        "harness_wall_seconds": doc["wall_seconds"],  # inside the run: after imports and plugin loading
        "model_load_and_startup_seconds": round(wall - doc["wall_seconds"], 2),
        "cache": "warm" if warm_cache else "fresh (converted models shared)",
        "tasks": per_task, "errors": doc["errors"],
        "loadavg_before": load_before, "loadavg_after": threads.loadavg(),
    }


def _fresh_cache(folder: Path) -> str:
    from harness.models.embedded import cache_root

    folder.mkdir(parents=True)
    for shared in ("models", "gguf"):
        if (cache_root() / shared).is_dir():
            (folder / shared).symlink_to(cache_root() / shared, target_is_directory=True)
    return str(folder)


def bench_threads(model: str, repeats: int, prompt_tokens: int = 150, batch: int = 4, new_tokens: int = 16) -> dict[str, Any]:
    """Prefill (a batch of prompts) and greedy decode (one prompt) at 1, auto and one-per-core threads."""
    import torch

    import harness
    from harness.models.base import GenerationRequest

    adapter = harness.load_model(model)
    cores = threads.machine()["cores"]
    prompt = " ".join(["The quick brown fox jumps over the lazy dog."] * (prompt_tokens // 10))
    ids = torch.tensor([adapter.tokenizer(prompt)["input_ids"][:prompt_tokens]] * batch)
    adapter.share_prefix = False

    def prefill() -> None:
        with torch.no_grad():
            adapter.model(input_ids=ids)

    def decode() -> None:
        adapter.prefix_store.clear()  # no warm cache across repeats
        adapter.generate([GenerationRequest(prompt, max_new_tokens=new_tokens)])

    auto_picks: list[dict[str, Any]] = []
    times: dict[str, dict[str, list[float]]] = {"prefill": {}, "decode": {}}
    for _ in range(repeats):  # interleaved so load changes hit every setting alike
        auto = threads.choose(threads.AUTO)
        auto_picks.append(auto.to_dict())
        for label, n in (("1", 1), ("one_per_core", cores), ("auto", auto.threads)):
            torch.set_num_threads(n)
            for part, fn in (("prefill", prefill), ("decode", decode)):
                t0 = time.perf_counter()
                fn()
                times[part].setdefault(label, []).append(time.perf_counter() - t0)
    threads.apply()
    medians = {part: {k: round(statistics.median(v), 4) for k, v in d.items()} for part, d in times.items()}
    return {
        "cores": cores, "prefill": f"{batch} x {ids.shape[1]} tokens", "decode": f"1 prompt, {new_tokens} new tokens",
        "median_seconds": medians, "auto_picks": auto_picks,
        "one_per_core_vs_1": {part: round(m["one_per_core"] / m["1"], 3) for part, m in medians.items()},
        "auto_vs_best_fixed": {part: round(m["auto"] / min(m["1"], m["one_per_core"]), 3) for part, m in medians.items()},
    }


def print_suite(s: dict[str, Any]) -> None:
    print(f"suite: {s['wall_seconds']:.1f} s wall, {s['cpu_seconds']:.1f} CPU-s "
          f"(startup and model load {s['model_load_and_startup_seconds']:.1f} s); load {s['loadavg_before']} -> {s['loadavg_after']}")
    for name, t in s["tasks"].items():
        print(f"  {name:<40} {t['wall_seconds']:>7.1f} s wall {t['cpu_seconds'] or 0:>7.1f} CPU-s  threads {t['threads']}")
    for name, err in s["errors"].items():
        print(f"  {name}: FAILED {err}")


def print_threads(t: dict[str, Any]) -> None:
    for part in ("prefill", "decode"):
        m = t["median_seconds"][part]
        print(f"threads {part} ({t[part]}): 1 thread {m['1']:.3f} s, {t['cores']} threads {m['one_per_core']:.3f} s, "
              f"auto {m['auto']:.3f} s; {t['cores']} threads / 1 = {t['one_per_core_vs_1'][part]:.2f}, "
              f"auto / best fixed = {t['auto_vs_best_fixed'][part]:.2f}")
    print(f"  auto picked {[p['threads'] for p in t['auto_picks']]} (busy cores {[p['busy_cores'] for p in t['auto_picks']]})")

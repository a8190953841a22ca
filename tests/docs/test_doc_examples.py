"""Every task-YAML example in the README and the docs is valid, and the Quickstart and tour run."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys

import pytest
from docexamples import section_block, task_yaml_blocks, with_limit_one
from testutil import REPO

from harness.pluginmanager import PluginManager
from harness.tasks import SuiteConfig, TaskConfigError, check_args, parse_file

EXAMPLE_PLUGIN = REPO / "tests" / "example_plugin"


@pytest.fixture(scope="module")
def benchmarks():
    sys.path.insert(0, str(EXAMPLE_PLUGIN))  # the plugin guide's examples name the example plugin's benchmark
    try:
        return PluginManager().load(["harness_example_plugin.plugin"]).registry().benchmarks
    finally:
        sys.path.remove(str(EXAMPLE_PLUGIN))


def _check(text: str, where: str, benchmarks, tmp_path) -> None:
    path = tmp_path / "example.yaml"
    path.write_text(text, encoding="utf-8")
    cfg = parse_file(path)
    if isinstance(cfg, SuiteConfig):
        return
    assert cfg.benchmark in benchmarks, f"{where}: unknown benchmark {cfg.benchmark!r}"
    sys.path.insert(0, str(EXAMPLE_PLUGIN))
    try:
        check_args(cfg, benchmarks[cfg.benchmark].load())
    finally:
        sys.path.remove(str(EXAMPLE_PLUGIN))


def test_every_task_yaml_example_is_valid(benchmarks, tmp_path):
    found = task_yaml_blocks()
    assert len(found) >= 3, [b.where() for b in found]  # the README/usage page, the task reference, the plugin guide
    for block in found:
        try:
            _check(block.text, block.where(), benchmarks, tmp_path)
        except TaskConfigError as err:
            pytest.fail(f"{block.where()}: invalid task example: {err}")


def test_the_check_refuses_the_old_invalid_readme_example(benchmarks, tmp_path):
    old = ("task: causalgym_agr_sv_num_small\nbenchmark: causalgym\ntags: [default]\n"
           "args: {task_name: agr_sv_num, split: dev, methods: [das, mean], limit: 20}\n")
    with pytest.raises(TaskConfigError, match="unknown argument 'task_name'"):
        _check(old, "old README", benchmarks, tmp_path)


def _bash(script: str, cwd, timeout: int = 1200) -> subprocess.CompletedProcess:
    """Run doc commands in bash, with ``harness``/``python`` meaning this checkout under test."""
    base = os.pathsep.join([str(REPO), str(REPO / ".devpath")])
    prelude = (f'harness() {{ PYTHONPATH="${{PYTHONPATH:+$PYTHONPATH{os.pathsep}}}{base}" {shlex.quote(sys.executable)} -m harness "$@"; }}\n'
               f'python() {{ {shlex.quote(sys.executable)} "$@"; }}\nset -euo pipefail\n')
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"), HF_HUB_OFFLINE="1")
    return subprocess.run(["bash", "-c", prelude + script], cwd=cwd, capture_output=True, text=True, env=env, timeout=timeout)


@pytest.mark.slow
def test_readme_tour_runs(tmp_path):
    tour = section_block(REPO / "README.md", "A tour")
    lines = [with_limit_one(line) for line in tour.text.splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) >= 5 and any("leaderboard" in line for line in lines)
    (tmp_path / "tests").symlink_to(REPO / "tests")  # the tour runs from a clone's root
    res = _bash("\n".join(lines), cwd=tmp_path)
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    assert "causalgym_quick" in res.stdout and "arith_small" in res.stdout
    assert (tmp_path / "leaderboard" / "index.html").is_file()
    assert (tmp_path / "viewer" / "index.html").is_file()
    assert list((tmp_path / "runs" / "smollm2-135m").glob("samples_causalgym_quick_*.jsonl"))


@pytest.mark.slow
def test_readme_quickstart_evaluation_runs(tmp_path):
    quick = section_block(REPO / "README.md", "Quickstart")
    evaluation = quick.text.split("&&")[-1].strip()
    assert evaluation == "harness run"  # the default suite on the embedded model
    res = _bash(with_limit_one(evaluation) + " --output-path runs/", cwd=tmp_path)
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    assert "results:" in res.stdout and list((tmp_path / "runs").rglob("results_*.json"))


@pytest.mark.slow
def test_usage_page_task_example_runs(tmp_path):
    """The usage page's task file, written where its comment says, run the way it says."""
    block = next(b for b in task_yaml_blocks() if b.path.name == "usage.md")
    first = block.text.splitlines()[0]
    assert first.startswith("# ") and ", run with: " in first
    target, command = first[2:].split(", run with: ")
    (tmp_path / target).parent.mkdir(parents=True)
    (tmp_path / target).write_text(block.text)
    res = _bash(with_limit_one(command) + " --output-path runs/", cwd=tmp_path)
    assert res.returncode == 0, (res.stdout[-3000:], res.stderr[-3000:])
    assert "causalgym_pronoun_mean" in res.stdout

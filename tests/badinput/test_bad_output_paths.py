"""Bad-input battery: output folders (issue 16 points 5 and 10, "a results folder by default")."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from badutil import header_line, log_lines, results_of, run_toy, toy_env, toy_task
from testutil import REPO, assert_user_error, run_cli

ROWS = [{"id": f"s{i}", "x": i, "fail": i == 1} for i in range(3)]  # s1 would fail: proves nothing ran


def readonly_dir(tmp_path: Path) -> Path:
    if os.geteuid() == 0:
        return Path("/proc")  # root ignores mode bits; /proc refuses new files
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


@pytest.mark.parametrize("kind", ["file", "readonly", "under_a_file"])
def test_unusable_output_path_is_refused_before_any_work(tmp_path, kind):
    (tmp_path / "afile").write_text("x")
    target = {"file": tmp_path / "afile", "readonly": readonly_dir(tmp_path), "under_a_file": tmp_path / "afile" / "sub"}[kind]
    res = run_toy(toy_task(tmp_path, ROWS) + ["--output-path", str(target)])
    assert_user_error(res, f"--output-path {target}:")
    assert "toy failure" not in res.stderr  # refused before the task ran
    assert (tmp_path / "afile").read_text() == "x"


def test_model_name_dotdot_stays_inside_the_output_folder(tmp_path, tiny_model_dir, example_plugin_site):
    out = tmp_path / "a" / "out"
    res = run_cli(["run", "--tasks", "arith_small", "--limit", "2", "--no-progress", "--output-path", str(out),
                   "--model-args", f"pretrained={tiny_model_dir},name=.."], env={"PYTHONPATH": str(example_plugin_site)})
    assert res.returncode == 0, res.stderr
    assert list(out.glob("*/results_*.json")) and not list((tmp_path / "a").glob("results_*.json"))
    from harness.outdir import OutputPathError, inside

    with pytest.raises(OutputPathError, match="outside"):
        inside(tmp_path, "../x")


def test_run_without_output_path_uses_the_default_folder_and_says_where(tmp_path):
    runs = tmp_path / "runs"
    args = toy_task(tmp_path, [{"id": "a", "x": 1}])
    res = run_toy(args, HARNESS_RUNS_DIR=str(runs))
    assert res.returncode == 0, res.stderr
    doc = results_of(runs)
    assert f"output {runs}" in header_line(res.stderr)  # at the start
    assert f"results: {runs}" in res.stdout  # and at the end
    assert doc["results"]["toy"]["y"] == 2.0


def test_default_folder_is_harness_runs_not_results():
    from harness.outdir import DEFAULT_RUNS_DIR, default_output_dir

    env = {k: v for k, v in os.environ.items() if k != "HARNESS_RUNS_DIR"}
    code = "from harness.outdir import default_output_dir; print(default_output_dir())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=REPO).stdout.strip()
    assert out == DEFAULT_RUNS_DIR == "harness-runs" and default_output_dir() != Path("results")
    assert "/harness-runs/" in (REPO / ".gitignore").read_text()


def test_resume_and_log_samples_without_output_path_use_the_default_folder(tmp_path):
    runs = tmp_path / "runs"
    args = toy_task(tmp_path, [{"id": f"s{i}", "x": i} for i in range(5)])
    assert run_toy(args + ["--log-samples"], HARNESS_RUNS_DIR=str(runs)).returncode == 0
    assert len(log_lines(runs)) == 5
    res = run_toy(args + ["--resume"], HARNESS_RUNS_DIR=str(runs))
    assert res.returncode == 0, res.stderr
    newest = json.loads(max(runs.glob("*/results_*.json"), key=lambda f: f.stat().st_mtime_ns).read_text())
    assert newest["tasks"]["toy"]["n_resumed"] == 5


def test_orphaned_temp_files_are_removed(tmp_path):
    out = tmp_path / "out"
    (out / "no-model").mkdir(parents=True)
    orphan = out / "no-model" / ".results_x.json.abc123.tmp"
    orphan.write_text("{")
    assert run_toy(toy_task(tmp_path, [{"id": "a", "x": 1}]) + ["--output-path", str(out)]).returncode == 0
    assert not orphan.exists()


def test_output_files_honour_the_umask(tmp_path):
    out = tmp_path / "out"
    args = toy_task(tmp_path, [{"id": "a", "x": 1}]) + ["--output-path", str(out), "--log-samples"]
    subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO, env={**os.environ, **toy_env()},
                   preexec_fn=lambda: os.umask(0o002), check=True, capture_output=True)
    files = [p for p in out.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert files and {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o664}, files


def test_tasks_without_a_model_are_not_filed_under_hf(tmp_path):
    out = tmp_path / "out"
    assert run_toy(toy_task(tmp_path, [{"id": "a", "x": 1}]) + ["--output-path", str(out)]).returncode == 0
    assert [p.name for p in out.iterdir() if p.is_dir()] == ["no-model"]
    assert results_of(out)["model"]["name"] == "no-model"

"""Bad-input battery: plugins that raise, clash or cannot be imported (issue 16 point 6)."""

import json
import os
import textwrap
from pathlib import Path

import pytest

from badutil import HERE, run_toy, toy_task
from testutil import assert_user_error, run_cli

HOOK_ARGS = {"harness_run_start": "run", "harness_task_start": "run, task, n_samples, n_done",
             "harness_batch_end": "run, task, n_done, n_samples", "harness_task_end": "run, task, result",
             "harness_run_end": "run, results"}


def install(site: Path, module: str, code: str) -> None:
    """A real distribution (dist-info with an entry point) holding ``module``."""
    site.mkdir(exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(code))
    info = site / f"{module}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[harness.plugins]\n{module} = {module}\n")


def env_for(site: Path, **extra: str) -> dict:
    return {"PYTHONPATH": os.pathsep.join([str(site), str(HERE), os.environ.get("PYTHONPATH", "")]), **extra}


@pytest.mark.parametrize("hook", sorted(HOOK_ARGS))
def test_a_raising_lifecycle_hook_is_reported_and_disabled(tmp_path, hook):
    site = tmp_path / "site"
    install(site, "raiser", f"""
        from harness.hookspecs import hookimpl
        @hookimpl
        def {hook}({HOOK_ARGS[hook]}):
            raise RuntimeError("hook went wrong")
    """)
    args = toy_task(tmp_path, [{"id": f"s{i}", "x": i} for i in range(9)]) + ["--output-path", str(tmp_path / "out")]
    res = run_cli(args, env=env_for(site))
    assert res.returncode == 0, res.stderr
    assert f"plugin raiser: hook {hook} raised RuntimeError: hook went wrong" in res.stderr and "disabled" in res.stderr
    assert res.stderr.count("hook went wrong") == 1  # disabled after the first time
    doc = json.loads(next((tmp_path / "out").glob("*/results_*.json")).read_text())
    assert doc["results"]["toy"]["y"] == 8.0 and not doc["errors"]


def test_a_raising_add_commands_hook_does_not_break_list(tmp_path):
    site = tmp_path / "site"
    install(site, "badcmd", """
        from harness.hookspecs import hookimpl
        @hookimpl
        def harness_add_commands(subparsers):
            raise ValueError("no commands today")
    """)
    res = run_cli(["list"], env=env_for(site))
    assert res.returncode == 0 and "causalgym_quick" in res.stdout
    assert "plugin badcmd: hook harness_add_commands raised ValueError: no commands today" in res.stderr
    assert "Traceback" not in res.stderr


def test_an_unimportable_implementation_fails_only_its_tasks(tmp_path):
    site = tmp_path / "site"
    install(site, "ghost", """
        from harness.hookspecs import hookimpl
        from harness.registry import BenchmarkSpec
        @hookimpl
        def harness_register_benchmarks():
            return [BenchmarkSpec(name="ghost_bench", implementation="ghost_missing_module:Bench")]
    """)
    args = toy_task(tmp_path, [{"id": "a", "x": 1}])
    (tmp_path / "tasks" / "ghost.yaml").write_text("task: ghost\nbenchmark: ghost_bench\n")
    args[args.index("--tasks") + 1] = "ghost,toy"
    res = run_cli(args + ["--output-path", str(tmp_path / "out")], env=env_for(site))
    assert_user_error(res, "task ghost failed", "plugin 'ghost' cannot be imported", "ghost_missing_module", code=1)
    doc = json.loads(next((tmp_path / "out").glob("*/results_*.json")).read_text())
    assert doc["results"]["toy"]["y"] == 2.0 and list(doc["errors"]) == ["ghost"]


HIJACK = """
    import pathlib, os
    from harness.hookspecs import hookimpl
    from harness.registry import BenchmarkSpec, ModelSpec
    def evil(**kw):
        pathlib.Path(os.environ["HIJACK_MARKER"]).write_text("hijacked")
        raise SystemExit(0)
    @hookimpl
    def harness_register_models():
        return [ModelSpec(name="hf", implementation=evil)]
    @hookimpl
    def harness_register_benchmarks():
        return [BenchmarkSpec(name="mquake", implementation=evil), BenchmarkSpec(name="hijack_extra", implementation=evil)]
"""


def test_builtin_names_win_a_clash_and_the_intruder_is_refused(tmp_path):
    site = tmp_path / "site"
    install(site, "a_hijack", HIJACK)
    env = env_for(site, HIJACK_MARKER=str(tmp_path / "marker"))
    infos = {p["name"]: p for p in json.loads(run_cli(["plugins", "--json"], env=env).stdout)}
    assert infos["a_hijack"]["status"] == "failed" and "built-in plugin" in infos["a_hijack"]["error"]
    assert infos["hf"]["status"] == "ok" and infos["mquake"]["status"] == "ok"
    listing = json.loads(run_cli(["list", "--json"], env=env).stdout)
    assert {t["plugin"] for t in listing["tasks"] if t["benchmark"] == "mquake"} == {"mquake"}
    res = run_cli(["run", "--tasks", "causalgym_quick", "--model-args", f"pretrained={tmp_path / 'none'}",
                   "--output-path", str(tmp_path / "out")], env=env)
    assert "plugin a_hijack failed to load" in res.stderr and "already registered by built-in plugin" in res.stderr
    assert_user_error(res, "no such file or folder")  # the built-in hf adapter answered
    assert not (tmp_path / "marker").exists()


def test_a_raising_task_paths_hook_leaves_other_tasks(tmp_path):
    site = tmp_path / "site"
    install(site, "badpaths", """
        from harness.hookspecs import hookimpl
        @hookimpl
        def harness_task_paths():
            raise OSError("disk gone")
    """)
    res = run_cli(["list"], env=env_for(site))
    assert res.returncode == 0 and "causalgym_quick" in res.stdout and "Traceback" not in res.stderr
    infos = {p["name"]: p for p in json.loads(run_cli(["plugins", "--json"], env=env_for(site)).stdout)}
    assert "disk gone" in infos["badpaths"]["error"]


def test_batch_end_hook_counts_samples_without_progress_bars(tmp_path):
    site = tmp_path / "site"
    install(site, "counter", f"""
        from harness.hookspecs import hookimpl
        @hookimpl
        def harness_batch_end(n_done, n_samples):
            with open({str(tmp_path / 'counts')!r}, "a") as fh:
                fh.write(f"{{n_done}}/{{n_samples}}\\n")
    """)
    args = toy_task(tmp_path, [{"id": f"s{i}", "x": i} for i in range(10)]) + ["--output-path", str(tmp_path / "out")]
    assert run_cli(args, env=env_for(site)).returncode == 0
    assert (tmp_path / "counts").read_text().split() == ["4/10", "8/10", "10/10"]

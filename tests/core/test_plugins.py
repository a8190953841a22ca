"""Plugin discovery through entry points, isolation of broken plugins, blocking and autoload."""

import json
import os
import textwrap
from pathlib import Path

from testutil import run_cli

from harness.pluginmanager import CORE_PLUGINS


def make_broken_dists(site: Path) -> None:
    """Two real (dist-info) distributions: one whose module fails to import, one with bad registrations."""
    for name, module, code in [
        ("broken-import", "broken_import_plugin", "raise ImportError('this plugin needs a package that is missing')\n"),
        ("bad-registrations", "bad_reg_plugin", textwrap.dedent("""
            from harness.hookspecs import hookimpl
            @hookimpl
            def harness_register_benchmarks():
                return ["not a BenchmarkSpec"]
        """)),
        ("future-api", "future_api_plugin", "HARNESS_API_VERSION = '1.99'\n"),
    ]:
        (site / f"{module}.py").write_text(code)
        info = site / f"{name.replace('-', '_')}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[harness.plugins]\n{module} = {module}\n")


def env_with(*sites: Path) -> dict:
    return {"PYTHONPATH": os.pathsep.join([*map(str, sites), os.environ.get("PYTHONPATH", "")])}


def test_installed_distribution_is_discovered(example_plugin_site):
    res = run_cli(["plugins", "--json"], env=env_with(example_plugin_site))
    assert res.returncode == 0, res.stderr
    infos = {p["name"]: p for p in json.loads(res.stdout)}
    assert infos["arith"]["status"] == "ok"
    assert infos["arith"]["version"] == "0.3.0"
    assert "harness-example-plugin" in infos["arith"]["origin"]
    assert infos["hf"]["status"] == "ok"
    listing = json.loads(run_cli(["list", "--json"], env=env_with(example_plugin_site)).stdout)
    arith = [t for t in listing["tasks"] if t["task"] == "arith_small"]
    assert arith and arith[0]["plugin"] == "arith"


def test_broken_plugins_are_reported_and_isolated(example_plugin_site, tmp_path, tiny_model_dir):
    make_broken_dists(tmp_path)
    env = env_with(example_plugin_site, tmp_path)
    infos = {p["name"]: p for p in json.loads(run_cli(["plugins", "--json"], env=env).stdout)}
    assert infos["broken_import_plugin"]["status"] == "failed"
    assert "needs a package that is missing" in infos["broken_import_plugin"]["error"]
    assert infos["bad_reg_plugin"]["status"] == "failed"
    assert "BenchmarkSpec" in infos["bad_reg_plugin"]["error"]
    assert infos["future_api_plugin"]["status"] == "failed"
    assert "needs harness plugin API 1.99" in infos["future_api_plugin"]["error"]
    assert infos["arith"]["status"] == "ok"
    res = run_cli(["run", "--tasks", "arith_small", "--limit", "4", "--no-progress",
                   "--model-args", f"pretrained={tiny_model_dir}"], env=env)
    assert res.returncode == 0, res.stderr
    assert "arith_small" in res.stdout
    assert "broken_import_plugin failed to load" in res.stderr


def test_block_and_disable_autoload(example_plugin_site):
    env = env_with(example_plugin_site)
    blocked = {p["name"]: p for p in json.loads(run_cli(["-p", "no:arith", "plugins", "--json"], env=env).stdout)}
    assert blocked["arith"]["status"] == "blocked"
    res = run_cli(["-p", "no:arith", "run", "--tasks", "arith_small"], env=env)
    assert res.returncode == 2 and "unknown task 'arith_small'" in res.stderr  # its task folder went with it
    off = json.loads(run_cli(["plugins", "--json"], env={**env, "HARNESS_DISABLE_PLUGIN_AUTOLOAD": "1"}).stdout)
    assert {p["name"]: p["origin"] for p in off} == {name: "core" for name in CORE_PLUGINS}  # the core's own modules only
    explicit = json.loads(run_cli(["--plugin", "harness_example_plugin.plugin", "plugins", "--json"],
                                  env={**env, "HARNESS_DISABLE_PLUGIN_AUTOLOAD": "1"}).stdout)
    explicit = [p for p in explicit if p["origin"] != "core"]
    assert [p["name"] for p in explicit] == ["harness_example_plugin.plugin"] and explicit[0]["origin"] == "--plugin"
    blocked = {p["name"]: p["status"] for p in json.loads(run_cli(["-p", "no:bench", "-p", "no:core", "plugins", "--json"], env=env).stdout)}
    assert blocked["bench"] == "blocked" and blocked["core"] == "ok"  # the core commands cannot be blocked


def test_listing_commands_do_not_import_torch(example_plugin_site):
    code = ("import sys; from harness.cli import main; "
            "[main(a) for a in (['list'], ['plugins'], ['list', '--json'])]; "
            "heavy = [m for m in ('torch', 'transformers', 'sklearn', 'pandas', 'matplotlib') if m in sys.modules]; "
            "assert not heavy, heavy")
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **env_with(example_plugin_site)})
    assert res.returncode == 0, res.stderr[-2000:]
    res = subprocess.run([sys.executable, "-c", "import sys; from harness.cli import main\ntry: main(['--help'])\nexcept SystemExit: pass\nassert 'torch' not in sys.modules"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]

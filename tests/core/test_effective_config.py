"""The results file records the effective configuration (what the adapter used), versions, git hash
and a digest; files written before these fields existed still load."""

from __future__ import annotations

import json
import shutil
import subprocess

from harness.leaderboard.collect import collect
from harness.results import git_hash, stable_hash
from testutil import REPO, run_cli


def _results(out):
    (path,) = sorted(out.glob("*/results_*.json"))
    return path, json.loads(path.read_text())


def test_results_record_what_the_adapter_actually_used(tiny_model_dir, tmp_path):
    res = run_cli(["run", "--tasks", "activation_decoding_openqa_sample", "--limit", "2", "--no-progress", "--batch-size", "2",
                   "--model-args", f"pretrained={tiny_model_dir},share_prefix=false,dtype=float32,max_length=256",
                   "--output-path", str(tmp_path / "out")], timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    _, doc = _results(tmp_path / "out")
    # the arguments as typed, under their own key
    assert doc["model"]["args"] == {"pretrained": str(tiny_model_dir), "share_prefix": False, "dtype": "float32",
                                    "max_length": 256, "batch_size": 2}
    eff = doc["effective_config"]
    model = eff["model"]
    assert model["device"] == "cpu" and model["dtype"] == "float32" and model["share_prefix"] is False
    assert model["max_length"] == 256 and model["add_bos_token"] is False and model["decoding"] is None
    assert model["batch_size"]["requested"] == 2 and model["batch_size"]["resolved"] == 2
    assert model["padding_side"] == {"scoring": "right", "generation": "left"}
    assert "activation_decoding" in eff["versions"]["plugins"] and eff["versions"]["harness"]
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert eff["git_hash"].split("-")[0] == head
    assert eff["digest"] == stable_hash({k: v for k, v in eff.items() if k != "digest"}, 64)


def test_auto_batch_size_is_recorded_as_resolved(tmp_path):
    from harness.pluginmanager import PluginManager
    from harness.runner import RunConfig, run
    from harness.testing import tiny_adapter

    adapter = tiny_adapter("llama", batch_size="auto")
    doc = run(RunConfig(tasks=["activation_decoding_openqa_sample"], limit=2, progress=False), pm=PluginManager().load(),
              adapter=adapter)
    size = doc["effective_config"]["model"]["batch_size"]
    assert size["requested"] == "auto" and isinstance(size["resolved"], int) and size["resolved"] >= 1


def test_git_hash_is_null_outside_a_checkout(tmp_path):
    assert git_hash(tmp_path) is None
    assert git_hash(REPO / "harness") is None  # a folder inside some repository is not its checkout
    assert git_hash(REPO) is not None


def test_results_files_without_the_new_fields_still_load(tmp_path, tiny_model_dir):
    old = sorted((REPO / "results" / "runs").rglob("results_*.json"))[:3]
    assert old and all("effective_config" not in json.loads(p.read_text()) for p in old)
    for i, path in enumerate(old):
        shutil.copy(path, tmp_path / f"results_old{i}.json")
    new = {"schema_version": 1, "run_id": "x", "created": "2026-12-01T00:00:00+00:00", "model": {"name": "m", "args": {}},
           "results": {"t": {"acc": 0.5}}, "effective_config": {"model": {"device": "cpu"}, "digest": "d"}}
    (tmp_path / "results_new.json").write_text(json.dumps(new))
    found = collect(tmp_path)
    assert len(found.runs) == len(old) + 1 and not [p for p in found.problems if p.skipped]

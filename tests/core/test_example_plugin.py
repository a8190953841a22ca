"""The example third-party plugin, really installed (pip --target), adds one of each extension
point and each one works: a command (a real subprocess), a plot (in a real leaderboard build), a
featurizer (in an interchange intervention) and a decoder (in a generation with a tiny model)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from testutil import run_cli

from harness.pluginmanager import PluginManager


def env_with(site) -> dict:
    import os

    return {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture
def registry(example_plugin_site, monkeypatch):
    """The registry of a plugin manager that found the installed example plugin by its entry point."""
    monkeypatch.syspath_prepend(str(example_plugin_site))
    pm = PluginManager().load()
    assert pm.infos["arith"].status == "ok" and "harness-example-plugin 0.3.0" in pm.infos["arith"].origin
    return pm.registry()


def test_command_runs_in_a_real_subprocess(example_plugin_site):
    res = run_cli(["arith-show", "--n", "2", "--seed", "7"], env=env_with(example_plugin_site))
    assert res.returncode == 0, res.stderr[-2000:]
    lines = res.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("q0: ") and lines[1].startswith("q1: ")
    a, b = (int(x) for x in lines[0].split(": ", 1)[1].split(" = ")[0].split(" + "))
    assert lines[0].endswith(f"answer {a + b}")
    assert "arith-show" in run_cli(["--help"], env=env_with(example_plugin_site)).stdout


def test_plot_is_drawn_in_a_real_leaderboard_build(example_plugin_site, tiny_model_dir, tmp_path):
    env = env_with(example_plugin_site)
    run = run_cli(["run", "--tasks", "arith_small", "--limit", "6", "--no-progress", "--model-args", f"pretrained={tiny_model_dir}",
                   "--output-path", str(tmp_path / "runs")], env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    board = run_cli(["leaderboard", str(tmp_path / "runs"), "--out", str(tmp_path / "board")], env=env)
    assert board.returncode == 0, board.stderr[-2000:]
    doc = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    arith = next(b for b in doc["benchmarks"] if b["name"] == "arith_mc")
    assert [p["file"] for p in arith["plots"]] == ["plots/arith_mc-accuracy.png"]
    png = (tmp_path / "board" / "plots" / "arith_mc-accuracy.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 3000
    blocked = run_cli(["-p", "no:arith", "leaderboard", str(tmp_path / "runs"), "--out", str(tmp_path / "board2")], env=env)
    assert blocked.returncode == 0 and "arith_mc-accuracy" not in (tmp_path / "board2" / "leaderboard.json").read_text()


def test_featurizer_is_found_by_name_and_drives_an_intervention(registry):
    from harness.interventions import TokenBatch, make_featurizer
    from harness.testing import tiny_adapter

    assert registry.featurizers["median"].plugin == "arith" and "das" in registry.featurizers  # next to the core's
    adapter = tiny_adapter("llama")
    engine = adapter.interchange_engine()
    pad = adapter.tokenizer.pad_token_id
    base_ids = [adapter.tok_encode(t) for t in ("The cat sat on the", "The dog ran to the")]
    src_ids = [adapter.tok_encode(t) for t in ("A bird flew over the", "A fish swam under the")]
    base, src = engine.run(TokenBatch.from_ids(base_ids, pad)), engine.run(TokenBatch.from_ids(src_ids, pad))
    site = 1
    pos = [len(ids) - 1 for ids in base_ids]
    spos = [len(ids) - 1 for ids in src_ids]
    X = torch.cat([base.at(site, pos), src.at(site, spos)]).detach()
    y = np.array([0, 0, 1, 1])
    feat = make_featurizer("median", registry).fit(X, y)
    expected = np.median(X[2:].numpy(), axis=0) - np.median(X[:2].numpy(), axis=0)
    assert np.allclose(np.abs(feat.components_[0]), np.abs(expected / np.linalg.norm(expected)), atol=1e-5)
    clean = engine.intervene(base, site, pos, base.at(site, pos), feat.intervention())  # swapping a state with itself
    swapped = engine.intervene(base, site, pos, src.at(site, spos), feat.intervention())
    with torch.no_grad():
        plain = torch.stack([adapter.model(torch.tensor([ids])).logits[0, -1] for ids in base_ids])
    assert torch.allclose(clean, plain, atol=1e-4)  # the engine really ran the model: no change, no difference
    assert not torch.allclose(clean, swapped, atol=1e-4)  # the fitted direction carries something of the source
    with pytest.raises(KeyError, match="unknown featurizer 'median'"):
        make_featurizer("median")  # without the run's registry: only the core's own


def test_decoder_is_used_in_a_generation_with_a_tiny_model(registry):
    from harness.models.base import GenerationRequest
    from harness.testing import tiny_adapter

    adapter = tiny_adapter("llama").use_decoders(registry.decoders)
    prompt, n = "The cat sat on the mat and the", 16

    def reference(ban: bool) -> str:  # a plain greedy loop over the transformers model
        ids, out = adapter.tok_encode(prompt), []
        with torch.no_grad():
            for _ in range(n):
                logits = adapter.model(torch.tensor([ids + out])).logits[0, -1].clone()
                if ban and out:
                    logits[out] = float("-inf")
                out.append(int(logits.argmax()))
        return adapter.tokenizer.decode(out)

    plain = adapter.generate([GenerationRequest(prompt, max_new_tokens=n)])[0].text
    rule = adapter.generate([GenerationRequest(prompt, max_new_tokens=n, decoding="no_repeat")])[0].text
    assert plain == reference(ban=False)
    assert rule == reference(ban=True)
    assert rule != plain  # the tiny model repeats itself, so the rule changed the output

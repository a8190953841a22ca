"""``harness bench das``: the DAS sweep against pyvene (harness/bench_das.py).

Without pyvene the command is a one-line user error naming the install command; our side runs
on a tiny random model; with pyvene installed, both sides train the same rotation from the same
start to the same loss (the loss is compared tightly: an unseeded completion of the rotation's
orthogonal base alone moves it by about 5e-4 here)."""

from __future__ import annotations

import math

import pytest

from testutil import assert_user_error, run_cli

SITES = [1, 3]
LOSS_TOL = 1e-4


pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture(scope="module")
def setup():
    """A tiny random Llama (the real SmolLM2 tokenizer) and CausalGym pairs from the registry."""
    from harness import bench_das
    from harness.pluginmanager import PluginManager
    from harness.testing import tiny_adapter

    adapter = tiny_adapter("llama", seed=0)
    train, ev, desc = bench_das.pairs_workload(PluginManager().load(), adapter.tokenizer, adapter.pad_token_id, 12, 8)
    return adapter, train, ev, desc


def _cfg():
    from harness.interventions import TrainConfig

    return TrainConfig(lr=5e-2, batch_size=4, steps=6, warmup=0.1, seed=0)


def test_without_pyvene_the_command_exits_2_with_the_install_line(tmp_path):
    shim = tmp_path / "shim" / "pyvene"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text('raise ImportError("pyvene is blocked by this test")\n')
    res = run_cli(["bench", "das", "--json", str(tmp_path / "out.json")], env={"PYTHONPATH": str(shim.parent)}, timeout=300)
    assert_user_error(res, 'pip install "interp-harness[bench]"', "pyvene==0.1.8")
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not (tmp_path / "out.json").exists()


def test_bench_das_is_not_part_of_all_and_its_layers_are_checked():
    from harness.bench import PARTS, _parts, _sites

    assert "das" not in PARTS and "das" not in _parts("all") and _parts("das") == ["das"]
    assert _sites("4,8, 12") == [4, 8, 12]
    for bad in ("0,4", "four", ""):
        with pytest.raises(Exception, match="expected sites"):
            _sites(bad)


def test_pairs_are_tokenised_with_one_position_inside_each_sentence(setup):
    adapter, train, ev, desc = setup
    assert len(train) == 12 and len(ev) == 8 and "agr_number_pp" in desc
    for wl in (train, ev):
        for batch, pos in ((wl.base, wl.base_pos), (wl.src, wl.src_pos)):
            lengths = batch.lengths
            assert all(0 < int(p) < n - 1 for p, n in zip(pos, lengths))  # after BOS, before the last token
    assert bool((train.base_label != train.src_label).all())  # the two label types differ in every pair


def test_our_side_runs_on_a_tiny_model_and_reports_seconds_and_a_finite_loss(setup):
    from harness import bench_das

    adapter, train, ev, _ = setup
    init = bench_das.initial_rotation(adapter.hidden_size, 1, seed=0)
    out = bench_das.sweep({"ours": bench_das.Ours(adapter, train, ev, SITES)}, SITES, init, _cfg())
    assert out["setup_seconds"]["ours"] > 0
    for site in SITES:
        assert out["seconds"][site]["ours"] > 0
        res = out["results"][site]["ours"]
        assert math.isfinite(res["final_loss"]) and res["final_loss"] > 0
        assert math.isfinite(res["logodds"]) and 0 <= res["iia"] <= 1
    # training moved the rotation: the loss after training is below the loss at the start
    from harness.interventions import CachedProblem, RotatedSubspace
    from harness.interventions.training import cross_entropy_loss

    engine = adapter.interchange_engine()
    problem = CachedProblem.build(engine, engine.run(train.base), engine.run(train.src), SITES[0], train.base_pos, train.src_pos, train.src_label)
    import torch

    with torch.no_grad():
        start = float(cross_entropy_loss(problem.logits(RotatedSubspace(adapter.hidden_size, 1, init=init, seed=0)), train.src_label))
    assert out["results"][SITES[0]]["ours"]["final_loss"] < start - 1e-3


def test_with_pyvene_both_sides_reach_the_same_loss_from_the_same_start(setup):
    pytest.importorskip("pyvene", reason="pyvene is not installed (pip install \"interp-harness[bench]\")")
    from harness import bench_das

    adapter, train, ev, _ = setup
    report = bench_das.bench_das(adapter, None, SITES, steps=6, batch_size=4, lr=5e-2, workload=(train, ev, "tiny"))
    assert report["pyvene_version"] == bench_das.PYVENE_VERSION
    for name, row in report["per_layer"].items():
        assert row["ours_seconds"] > 0 and row["pyvene_seconds"] > 0, name
        assert abs(row["ours_final_loss"] - row["pyvene_final_loss"]) <= LOSS_TOL, (name, row)
        assert abs(row["ours_logodds"] - row["pyvene_logodds"]) <= 1e-3, (name, row)
    assert report["total"]["max_abs_final_loss_diff"] <= LOSS_TOL
    assert report["target_met"] is False  # two sites are no 5-layer sweep

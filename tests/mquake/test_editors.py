"""FT, ROME and MEMIT on a tiny random model: the edit wins, an unrelated fact barely moves,
and ``weight_edits`` restores every weight bit for bit.

The tiny model is random (near-uniform next-token distributions), so each test's old target
is the model's own top token after the cloze and the new target a token ranked below it; the
edit must lift the new target above the old one. Unrelated facts must move by less than
UNRELATED_BOUND nats (the edits' own log-probabilities move by more than that).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from harness.models.base import LoglikelihoodRequest

UNRELATED_BOUND = 0.05  # nats: |change| of an unrelated fact's log-probability
#: Settings for a random 64-wide model: its states are ~100x smaller than a trained model's, so
#: the value step and the norm clamp are scaled up and MEMIT's lambda down (d_ff = 128 keys).
TINY_VALUES = dict(steps=30, lr=0.05, clamp_norm=100.0, weight_decay=0.01, n_prefixes=2, cov_tokens=2000)


@dataclass(frozen=True)
class E:
    prompt: str
    subject: str
    target_new: str
    target_true: str = ""

    @property
    def cloze(self) -> str:
        return self.prompt.replace("{}", self.subject, 1)


@pytest.fixture(scope="module")
def tiny():
    from harness.testing import tiny_adapter

    return tiny_adapter("llama", seed=1)


def _edit(adapter, prompt: str, subject: str, rank: int = 10) -> E:
    """Old target = the model's top next token; new target = its ``rank``-th token."""
    cloze = prompt.replace("{}", subject, 1)
    out = adapter.forward([cloze])
    order = out.logits[0, out.lengths[0] - 1].argsort(descending=True).tolist()
    words = []
    for tok in order:
        text = adapter.tokenizer.decode([tok])
        if text.startswith(" ") and text.strip().isalpha() and adapter.tokenizer(text, add_special_tokens=False)["input_ids"] == [tok]:
            words.append(text.strip())
        if len(words) > rank:
            break
    return E(prompt, subject, target_new=words[rank], target_true=words[0])


def _logprobs(adapter, pairs):
    return [r.logprob for r in adapter.loglikelihood([LoglikelihoodRequest(c, " " + t) for c, t in pairs])]


def _editors():
    from harness_plugins.mquake.editors import FTEditor, MEMITEditor, ROMEEditor

    return {
        "ft": lambda: FTEditor(layer=2, lr=2e-2, linf=2e-2, steps=25),
        "rome": lambda: ROMEEditor(layer=2, **TINY_VALUES),
        "memit": lambda: MEMITEditor(layers=[1, 2], mom2_weight=1.0, **TINY_VALUES),
    }


@pytest.mark.parametrize("name", ["ft", "rome", "memit"])
def test_editor_makes_the_edit_win_and_restores(tiny, name):
    edits = [_edit(tiny, "The mother tongue of {}", "Danielle Darrieux"), _edit(tiny, "The headquarters of {}", "Toyota")]
    unrelated = [("The Eiffel Tower is in", "Paris"), ("My favourite food is", "pizza")]
    params = [p.detach().clone() for p in tiny.model.parameters()]
    editor = _editors()[name]()
    pairs = [(e.cloze, t) for e in edits for t in (e.target_new, e.target_true)]
    before = _logprobs(tiny, pairs + unrelated)
    with tiny.weight_edits(editor, edits):
        after = _logprobs(tiny, pairs + unrelated)
        changed = any(not torch.equal(a, b) for a, b in zip(params, tiny.model.parameters()))
    assert changed
    for i, e in enumerate(edits):
        new_b, old_b, new_a, old_a = before[2 * i], before[2 * i + 1], after[2 * i], after[2 * i + 1]
        assert new_b < old_b, "setup: the new target starts below the old one"
        assert new_a > old_a, f"{name}: {e.target_new!r} ({new_a:.3f}) did not overtake {e.target_true!r} ({old_a:.3f})"
        assert new_a - new_b > UNRELATED_BOUND
    for b, a in zip(before[len(pairs):], after[len(pairs):]):
        assert abs(a - b) < UNRELATED_BOUND
    assert all(torch.equal(a, b) for a, b in zip(params, tiny.model.parameters()))  # bit for bit
    assert _logprobs(tiny, pairs + unrelated) == before


def test_rome_update_is_rank_one_and_maps_the_key(tiny):
    from harness_plugins.mquake.editors import ROMEEditor

    editor = ROMEEditor(layer=2, **TINY_VALUES)
    edit = _edit(tiny, "The mother tongue of {}", "Danielle Darrieux")
    weight, _ = tiny.mlp_projection(2)
    w0 = weight.detach().clone()
    with tiny.weight_edits(editor, [edit]):
        diff = (weight.detach() - w0).double()
        s = torch.linalg.svdvals(diff)
        assert s[0] > 0 and s[1] / s[0] < 1e-5  # one direction only
        stats = editor.last_stats[0]
        assert stats["nll_after_value"] < stats["nll_before"]
    assert torch.equal(weight, w0)


def test_memit_spreads_over_its_layers_and_restores_on_error(tiny):
    from harness_plugins.mquake.editors import MEMITEditor

    editor = MEMITEditor(layers=[1, 2], mom2_weight=1.0, **TINY_VALUES)
    edits = [_edit(tiny, "The mother tongue of {}", "Danielle Darrieux"), _edit(tiny, "The capital of {}", "Chile")]
    w = {l: tiny.mlp_projection(l)[0].detach().clone() for l in (1, 2, 3)}
    with pytest.raises(RuntimeError, match="boom"):
        with tiny.weight_edits(editor, edits):
            moved = {l: not torch.equal(tiny.mlp_projection(l)[0], w[l]) for l in (1, 2, 3)}
            raise RuntimeError("boom")
    assert moved == {1: True, 2: True, 3: False}
    assert all(torch.equal(tiny.mlp_projection(l)[0], w[l]) for l in (1, 2, 3))


def test_ft_respects_its_linf_bound(tiny):
    from harness_plugins.mquake.editors import FTEditor

    editor = FTEditor(layer=1, lr=1e-2, linf=1e-3, steps=5)
    weight, _ = tiny.mlp_projection(1)
    w0 = weight.detach().clone()
    with tiny.weight_edits(editor, [_edit(tiny, "The capital of {}", "Chile")]):
        step = (weight.detach() - w0).abs().max().item()
        assert 0 < step <= 1e-3 + 1e-7
        assert not weight.requires_grad
    assert torch.equal(weight, w0)


def test_gpt2_conv1d_orientation():
    from harness.testing import tiny_adapter
    from harness_plugins.mquake.editors import ROMEEditor

    gpt2 = tiny_adapter("gpt2", seed=1)
    edit = _edit(gpt2, "The mother tongue of {}", "Danielle Darrieux")
    pairs = [(edit.cloze, edit.target_new), (edit.cloze, edit.target_true)]
    before = _logprobs(gpt2, pairs)
    with gpt2.weight_edits(ROMEEditor(layer=2, **TINY_VALUES), [edit]):
        after = _logprobs(gpt2, pairs)
    assert after[0] - before[0] > UNRELATED_BOUND and after[0] - after[1] > before[0] - before[1]
    assert _logprobs(gpt2, pairs) == before


def test_covariance_is_cached_per_fingerprint(tiny, tmp_path, monkeypatch):
    from harness_plugins.mquake.editors import covariance

    covariance._MEMORY.clear()
    c1 = covariance.second_moments(tiny, [1, 2], n_tokens=500, cache_dir=tmp_path)[1]
    assert c1.shape == (128, 128) and torch.allclose(c1, c1.T, atol=1e-6)
    assert torch.linalg.eigvalsh(c1.double()).min() > -1e-6  # a second moment is PSD
    files = sorted(p.name for p in (tmp_path / "mquake_cov").iterdir())
    assert files == ["mlp_key_L1_500tok_128.pt", "mlp_key_L2_500tok_128.pt"]
    covariance._MEMORY.clear()
    monkeypatch.setattr(covariance, "_compute", lambda *a, **k: pytest.fail("recomputed despite the disk cache"))
    assert torch.equal(covariance.second_moments(tiny, [1], n_tokens=500, cache_dir=tmp_path)[1], c1)
    assert len(covariance.sotu_texts(500, tiny)) > 1 and sum(map(len, covariance.sotu_texts(500, tiny))) == 500


@pytest.fixture(scope="module")
def gemma():
    from harness.testing import tiny_adapter

    return tiny_adapter("gemma3", seed=1)


def test_memit_on_gemma3_with_its_bos_token(gemma):
    from harness_plugins.mquake.editors import MEMITEditor

    assert gemma.add_bos_token
    edit = _edit(gemma, "The mother tongue of {}", "Danielle Darrieux")
    pairs = [(edit.cloze, edit.target_new), (edit.cloze, edit.target_true)]
    before = _logprobs(gemma, pairs)
    editor = MEMITEditor(layers=[1, 2], mom2_weight=1.0, **TINY_VALUES)
    with gemma.weight_edits(editor, [edit]):
        after = _logprobs(gemma, pairs)
    assert after[0] - before[0] > UNRELATED_BOUND and after[0] - after[1] > before[0] - before[1]
    assert _logprobs(gemma, pairs) == before
    assert editor.last_stats["mlp_norm"] == "linearise" and sorted(editor.last_stats["landing_error"]) == [1, 2]


def test_through_norm_inverts_gemmas_post_mlp_norm(gemma):
    """The MLP-output change that MEMIT writes on a post-norm model: through Gemma 3's real
    ``post_feedforward_layernorm``, a reachable residual change is hit exactly, an arbitrary one
    far closer than by writing it into the MLP output as it is."""
    from harness_plugins.mquake.editors.memit import landing_error, through_norm

    fn = gemma.mlp_output_map(1)
    assert fn is not None and gemma.mlp_output_map(1) is fn
    gen = torch.Generator().manual_seed(0)
    m = torch.randn(6, gemma.hidden_size, generator=gen)
    with torch.no_grad():
        reachable = fn(m + 0.5 * torch.randn(m.shape, generator=gen)) - fn(m)
    d, err = through_norm(fn, m, reachable)
    assert err < 1e-4 and abs(landing_error(fn, m, d, reachable) - err) < 1e-9
    big = 4 * m  # an MLP output 4x the norm's scale, as trained models' are not at scale 1
    r = torch.randn(m.shape, generator=gen) * 0.05
    assert through_norm(fn, big, r)[1] < 0.5 * landing_error(fn, big, r, r)


def test_memit_lands_closer_on_a_post_norm_model_than_the_literal_rule(gemma):
    """On one block of tiny Gemma 3, the requested residual change is reached more closely by
    carrying it through the norm (``linearise``) than by writing it as it is (``ignore``)."""
    from harness_plugins.mquake.editors import MEMITEditor

    edit = _edit(gemma, "The mother tongue of {}", "Danielle Darrieux")
    errors = {}
    for rule in ("linearise", "ignore"):
        editor = MEMITEditor(layers=[2], mom2_weight=1.0, mlp_norm=rule, **TINY_VALUES)
        with gemma.weight_edits(editor, [edit]):
            pass
        errors[rule] = editor.last_stats["landing_error"][2]
    assert errors["linearise"] < 0.75 * errors["ignore"], errors
    with pytest.raises(ValueError, match="mlp_norm must be one of linearise, ignore"):
        MEMITEditor(mlp_norm="invert")


def test_memit_refuses_a_model_whose_mlp_output_map_is_wrong(tiny, gemma):
    """MEMIT checks through the adapter that ``mlp_output_map`` predicts the residual change;
    a Gemma adapter that claimed its MLP output is added unchanged is refused before any
    weight moves, with the fix named."""
    from harness.testing import tiny_adapter
    from harness_plugins.mquake.editors import MEMITEditor
    from harness_plugins.mquake.editors.memit import check_mlp_output_map

    check_mlp_output_map(tiny, 2)  # Llama: pre-norm, the MLP output is added as it is
    check_mlp_output_map(gemma, 1)  # Gemma 3 with its real map
    liar = tiny_adapter("gemma3", seed=2)
    liar.mlp_output_map = lambda layer: None
    edit = _edit(liar, "The mother tongue of {}", "Danielle Darrieux")
    w = liar.mlp_projection(1)[0].detach().clone()
    with pytest.raises(ValueError, match="mlp_output_map does not describe.*mlp_norm: ignore"):
        with liar.weight_edits(MEMITEditor(layers=[1, 2], mom2_weight=1.0, **TINY_VALUES), [edit]):
            pass
    assert torch.equal(liar.mlp_projection(1)[0], w)

"""The embedded SmolLM2 model loads from its PyPI package and knows Paris."""

import pytest

from harness.models.base import GenerationRequest, LoglikelihoodRequest


@pytest.mark.slow
def test_smollm2_completes_the_capital_of_france():
    import harness

    adapter = harness.load_model("smollm2-135m")
    assert adapter.num_layers == 30 and adapter.hidden_size == 576
    out = adapter.generate([GenerationRequest("The capital of France is", max_new_tokens=5)])[0]
    assert "Paris" in out.text
    paris, london = adapter.loglikelihood([LoglikelihoodRequest("The capital of France is", " Paris"),
                                           LoglikelihoodRequest("The capital of France is", " London")])
    assert paris.logprob > london.logprob and paris.is_greedy


def test_missing_package_prints_the_install_command(monkeypatch):
    from harness.models import embedded

    monkeypatch.setitem(embedded.EMBEDDED, "ghost", embedded.EmbeddedModel(
        "ghost", "not installed", "no_such_package_xyz", "pip install no-such-package-xyz", lambda p: p))
    with pytest.raises(embedded.EmbeddedModelMissing, match="pip install no-such-package-xyz"):
        embedded.converted_path("ghost")

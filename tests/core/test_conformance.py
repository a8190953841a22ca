"""The adapter conformance suite on both backends (hf, and nnsight when installed), each on tiny
Llama, GPT-2, GPT-NeoX and Gemma-3. Both declare every capability the suite checks, so nothing may
be skipped; nnsight does not declare the cached re-run, whose check runs on its full-forward engine."""

from __future__ import annotations

import importlib.util

import pytest

from harness.testing import hf_subject, nnsight_subject
from harness.whitebox.conformance import CHECKS, Skip

ARCHS = ["llama", "gpt2", "neox", "gemma3"]
BACKENDS = {"hf": hf_subject, "nnsight": nnsight_subject}
HAVE_NNSIGHT = importlib.util.find_spec("nnsight") is not None


@pytest.fixture(scope="module", params=[(b, a) for b in BACKENDS for a in ARCHS], ids=lambda p: f"{p[0]}-{p[1]}")
def subject(request):
    backend, arch = request.param
    if backend == "nnsight" and not HAVE_NNSIGHT:
        pytest.skip("nnsight is not installed (pip install 'interp-harness[nnsight]')")
    return BACKENDS[backend](arch)


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_adapter_conforms(subject, check):
    try:
        CHECKS[check](subject)
    except Skip as why:
        pytest.fail(f"{check} skipped on {subject.name}: {why}")


def test_a_broken_adapter_fails_the_suite():
    """The suite can fail: an adapter whose batches drift from single rows is caught."""
    subject = hf_subject("llama")
    make = subject.make

    def drifting(batch_size=4):
        adapter = make(batch_size=batch_size)
        score = adapter.loglikelihood

        def loglikelihood(reqs, **kw):
            out = score(reqs, **kw)
            if batch_size > 1:
                from dataclasses import replace

                out = [replace(r, logprob=r.logprob + 0.01) for r in out]
            return out

        adapter.loglikelihood = loglikelihood
        return adapter

    subject.make = drifting
    with pytest.raises(AssertionError, match="batched vs unbatched"):
        CHECKS["batched_equals_unbatched"](subject)


def test_an_adapter_that_hides_its_post_mlp_norm_fails_the_suite():
    """A Gemma 3 adapter claiming its MLP output reaches the residual stream unchanged is caught."""
    subject = hf_subject("gemma3")
    make = subject.make

    def hiding(batch_size=4):
        adapter = make(batch_size=batch_size)
        adapter.mlp_output_map = lambda layer: None
        return adapter

    subject.make = hiding
    with pytest.raises(AssertionError, match="residual change from an MLP-output edit"):
        CHECKS["mlp_output_map"](subject)

"""The adapter conformance suite on the hf adapter: tiny Llama, GPT-2, GPT-NeoX and Gemma-3."""

from __future__ import annotations

import pytest

from harness.testing import hf_subject
from harness.whitebox.conformance import CHECKS, Skip

ARCHS = ["llama", "gpt2", "neox", "gemma3"]


@pytest.fixture(scope="module", params=ARCHS)
def subject(request):
    return hf_subject(request.param)


@pytest.mark.parametrize("check", sorted(CHECKS))
def test_hf_adapter_conforms(subject, check):
    try:
        CHECKS[check](subject)
    except Skip as why:  # the hf adapter declares every capability: nothing may be skipped
        pytest.fail(f"{check} skipped on the hf adapter: {why}")


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

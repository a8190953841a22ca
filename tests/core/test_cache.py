"""The on-disk request cache returns identical results without recomputing."""

from harness.models.base import GenerationRequest as G
from harness.models.base import LoglikelihoodRequest as L
from harness.models.cache import CachingAdapter
from harness.testing import tiny_adapter


def test_request_cache_hits_on_rerun(tmp_path):
    reqs = [L("Hello", " world"), L("Hello", " there"), L("Bye", " now")]
    gens = [G("Once", max_new_tokens=4), G("Twice", max_new_tokens=4, do_sample=True)]  # unseeded sampling is not cached
    first = CachingAdapter(tiny_adapter("llama"), tmp_path / "cache.sqlite")
    a, ga = first.loglikelihood(reqs), first.generate(gens)
    assert first.hits == 0
    second = CachingAdapter(tiny_adapter("llama"), tmp_path / "cache.sqlite")
    b, gb = second.loglikelihood(reqs), second.generate(gens)
    assert second.hits == 4 and second.misses == 1
    assert a == b and ga[0] == gb[0]
    other = CachingAdapter(tiny_adapter("llama", seed=1), tmp_path / "cache.sqlite")  # another model: no hits
    other.loglikelihood(reqs)
    assert other.hits == 0

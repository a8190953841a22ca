"""Speed of shared-prefix generation against the adapter's own batched generation (one run, a ratio).

    OMP_NUM_THREADS=1 python tests/mquake/perf_prefix_cache.py [smollm2-135m] [n_requests] [max_new_tokens]

A MeLLo-like workload: the shipped MeLLo demonstrations (~800 tokens) followed by different
questions, greedy, stopped at "Retrieved fact:". Prints both wall times, their ratio, and
whether the outputs are identical.
"""

from __future__ import annotations

import sys
import time

from harness.models.base import GenerationRequest
from harness.models.embedded import load_embedded
from plugins.mquake.data import load_cases
from plugins.mquake.mello import MELLO_STOPS
from plugins.mquake.prefix_cache import SharedPrefixGenerator
from plugins.mquake.prompts import load_demos, mello_prompt


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "smollm2-135m"
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    new_tokens = int(sys.argv[3]) if len(sys.argv) > 3 else 48
    adapter = load_embedded(name)
    demos = load_demos("mello")
    questions = [q for c in load_cases("mquake_mini.json") for q in c.questions][:n]
    reqs = [GenerationRequest(prompt=mello_prompt(demos, q), max_new_tokens=new_tokens, stop=MELLO_STOPS) for q in questions]
    t0 = time.perf_counter()
    base = adapter.generate(reqs)
    t_base = time.perf_counter() - t0
    gen = SharedPrefixGenerator(adapter)
    t0 = time.perf_counter()
    fast = gen.generate(reqs)
    t_fast = time.perf_counter() - t0
    print(f"{name}: {n} requests, prefix {len(adapter.tok_encode(demos))} tokens, {new_tokens} new tokens max")
    print(f"adapter.generate       {t_base:8.1f} s")
    print(f"SharedPrefixGenerator  {t_fast:8.1f} s   speed-up x{t_base / t_fast:.2f}   identical outputs: {base == fast}")


if __name__ == "__main__":
    main()

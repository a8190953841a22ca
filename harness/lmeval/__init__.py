"""The lm-evaluation-harness bridge, both ways.

* :mod:`harness.lmeval.model`: our adapter as an lm-eval ``LM`` (registered as ``harness``), for
  ``lm_eval.simple_evaluate(model="harness", ...)`` and ``harness lm-eval ...``.
* :mod:`harness.lmeval.benchmark`: lm-eval tasks inside our runner (``--tasks lm_eval:<task>``).

lm-eval is imported only when one of these is used (``pip install "interp-harness[lm-eval]"``).
"""

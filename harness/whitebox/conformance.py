"""The checks every model adapter must pass (like scikit-learn's ``check_estimator``).

A backend author builds a :class:`Subject` (a factory of adapters on fixed weights, and the
plain transformers model with those same weights as the oracle) and runs :func:`run_all`, or
parametrises a test over :data:`CHECKS`. Each check raises ``AssertionError`` with what differed.
Checks for capabilities an adapter does not declare are skipped and reported as such.

Tolerances scale with the dtype (``Subject.atol``): fp32 on a CPU agrees to ~1e-5.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from harness.models.base import GenerationRequest, Intervention, LoglikelihoodRequest
from harness.whitebox.capabilities import Capability

CONTEXTS = ["The capital of France is", "Q: What is two plus two?\nA:", "Once upon a time, in a land far away,"]
CONTINUATIONS = [" Paris", " four", " there lived a king"]
PROMPTS = ["Story 1: the dragon", "A list of rivers: Nile,", "def add(a, b):", "Hello"]


class Skip(Exception):
    """The adapter does not declare what this check needs."""


@dataclass
class Subject:
    """What the checks need: ``make(batch_size=...)`` builds an adapter on the same weights as
    ``reference`` (a transformers causal LM in eval mode), and ``inject_oom(adapter, limit)`` is a
    context manager during which that adapter's model forward raises an out-of-memory error for
    batches above ``limit`` rows (CPUs never raise one, so it is simulated; the model still
    computes every result)."""

    name: str
    make: Callable[..., Any]
    reference: Any
    inject_oom: Callable[[Any, int], Any] | None = None
    atol: float = 1e-4
    notes: dict[str, str] = field(default_factory=dict)


def _needs(adapter: Any, *caps: Capability) -> None:
    have = set(getattr(adapter, "capabilities", ()))
    lacking = [str(c) for c in caps if c not in have]
    if lacking:
        raise Skip(f"adapter does not declare {', '.join(lacking)}")


def _ref_device(subject: Subject) -> torch.device:
    return next(subject.reference.parameters()).device


def _prefixed(label: str) -> Callable[[str], str]:
    """An ``assert_close`` message that names what was compared."""
    return lambda msg: f"{label}: {msg}"


def _close(a: float, b: float, atol: float, what: str) -> None:
    assert abs(a - b) <= atol, f"{what}: {a} vs {b} (|diff| {abs(a - b):.2e} > {atol:.0e})"


# --- checks -----------------------------------------------------------------------------------


def check_loglikelihood_vs_brute_force(subject: Subject) -> None:
    """log p(continuation | context) equals a plain full forward's log-softmax, token by token."""
    adapter = subject.make(batch_size=4)
    _needs(adapter, Capability.SCORING)
    reqs = [LoglikelihoodRequest(c, x) for c, x in zip(CONTEXTS, CONTINUATIONS)]
    got = adapter.loglikelihood(reqs)
    for req, res in zip(reqs, got):
        ctx, cont = adapter.encode_pair(req.context, req.continuation)
        ids = torch.tensor([ctx + cont], device=_ref_device(subject))
        with torch.no_grad():
            logp = torch.log_softmax(subject.reference(input_ids=ids).logits[0].float(), -1)
        brute = sum(float(logp[len(ctx) - 1 + j, t]) for j, t in enumerate(cont))
        _close(res.logprob, brute, subject.atol * max(1, len(cont)), f"log-likelihood of {req.continuation!r}")


def check_batched_equals_unbatched(subject: Subject) -> None:
    """Batch size changes no score and no generated text."""
    one, many = subject.make(batch_size=1), subject.make(batch_size=4)
    if Capability.SCORING in set(getattr(one, "capabilities", ())):
        reqs = [LoglikelihoodRequest(c, x) for c, x in zip(CONTEXTS, CONTINUATIONS)]
        for a, b in zip(one.loglikelihood(reqs), many.loglikelihood(reqs)):
            _close(a.logprob, b.logprob, subject.atol, "batched vs unbatched log-likelihood")
    _needs(one, Capability.GENERATION)
    gen_reqs = [GenerationRequest(p, max_new_tokens=6) for p in PROMPTS]
    assert [r.text for r in one.generate(gen_reqs)] == [r.text for r in many.generate(gen_reqs)], "batched generation differs"


def check_generation_equals_one_at_a_time(subject: Subject) -> None:
    """A batch of prompts generates what each prompt alone generates, and what a plain greedy
    loop of full forwards on the reference model generates."""
    adapter = subject.make(batch_size=4)
    _needs(adapter, Capability.GENERATION)
    reqs = [GenerationRequest(p, max_new_tokens=5) for p in PROMPTS]
    together = adapter.generate(reqs)
    alone = [adapter.generate([r])[0] for r in reqs]
    assert [r.text for r in together] == [r.text for r in alone], "batched generation differs from one at a time"
    eos = adapter.eos_ids() if hasattr(adapter, "eos_ids") else set()
    for req, res in zip(reqs, together):
        ids = adapter.tok_encode(req.prompt)
        new: list[int] = []
        for _ in range(req.max_new_tokens):
            with torch.no_grad():
                nxt = int(subject.reference(input_ids=torch.tensor([ids + new], device=_ref_device(subject))).logits[0, -1].argmax())
            if nxt in eos:
                break
            new.append(nxt)
        assert res.n_tokens == len(new) and res.text == adapter.tokenizer.decode(new, skip_special_tokens=True), (
            f"generation of {req.prompt!r} differs from a greedy loop of full forwards")


def check_site_reads_equal_hidden_states(subject: Subject) -> None:
    """Residual sites 0..L-1 equal transformers' ``hidden_states``; the final norm of site L gives
    the adapter's own logits."""
    adapter = subject.make(batch_size=4)
    _needs(adapter, Capability.SITE_READ)
    n = adapter.num_layers
    out = adapter.forward(PROMPTS, sites=range(n + 1))
    for i, text in enumerate(PROMPTS):
        ids = torch.tensor([adapter.tok_encode(text)], device=_ref_device(subject))
        with torch.no_grad():
            ref = subject.reference(input_ids=ids, output_hidden_states=True)
        length = ids.shape[1]
        for site in range(n):
            torch.testing.assert_close(out.states[site][i, :length].float().cpu(), ref.hidden_states[site][0].float().cpu(),
                                       atol=subject.atol, rtol=subject.atol, msg=_prefixed(f"site {site}"))
        final = adapter.unembed(out.states[n][i : i + 1, :length], final_norm=True)
        torch.testing.assert_close(final[0].float().cpu(), ref.logits[0].float().cpu(), atol=10 * subject.atol, rtol=10 * subject.atol)


def check_mlp_sites(subject: Subject) -> None:
    """MLP input and output sites read what the block's MLP saw and returned: zeroing the MLP
    output by an edit equals a forward with that MLP's down projection zeroed."""
    adapter = subject.make(batch_size=4)
    _needs(adapter, Capability.SITE_READ, Capability.SITE_EDIT)
    n = adapter.num_layers
    out = adapter.forward(PROMPTS[:2], sites=[("mlp_in", 1), ("mlp_out", 1), ("mlp_out", n), ("mlp_key", 1)])
    assert out.states[("mlp_in", 1)].shape == out.states[("mlp_out", 1)].shape
    if hasattr(adapter, "mlp_projection"):  # the key times the projection is the MLP's output
        weight, orient = adapter.mlp_projection(1)
        w = weight.T if orient == "in_out" else weight
        value = out.states[("mlp_key", 1)] @ w.T.to(out.states[("mlp_key", 1)].dtype)
        bias = getattr(adapter.layout.mlp_down(1), "bias", None) if hasattr(adapter, "layout") else None
        if bias is not None:
            value = value + bias
        torch.testing.assert_close(value, out.states[("mlp_out", 1)], atol=10 * subject.atol, rtol=10 * subject.atol)
    zero = [Intervention(("mlp_out", 2), [-1] * 2, lambda h, _s: torch.zeros_like(h))]
    edited = adapter.run_with_interventions(PROMPTS[:2], zero, sites=[("mlp_out", 2)], grad=False)
    assert float(edited.states[("mlp_out", 2)][0, len(adapter.tok_encode(PROMPTS[0])) - 1].abs().max()) == 0.0
    assert not torch.allclose(edited.logits, adapter.forward(PROMPTS[:2]).logits), "an MLP edit changed nothing"


def check_mlp_output_map(subject: Subject) -> None:
    """``mlp_output_map(l)`` says what reaches the residual stream: adding v to block l's MLP
    output moves residual site l by map(m + v) - map(m) (by v where the map is None), which
    weight editors that write residual-stream changes (MEMIT) rely on."""
    adapter = subject.make(batch_size=4)
    _needs(adapter, Capability.SITE_READ, Capability.SITE_EDIT)
    if not hasattr(adapter, "mlp_output_map"):
        raise Skip("the adapter has no mlp_output_map")
    from harness.whitebox.mlp_map import mlp_edit_residual_change

    for layer in (1, adapter.num_layers):
        got, want = mlp_edit_residual_change(adapter, PROMPTS[0], layer, scale=0.3, seed=layer)
        torch.testing.assert_close(got, want, atol=10 * subject.atol, rtol=10 * subject.atol,
                                   msg=_prefixed(f"residual change from an MLP-output edit at block {layer}"))


def check_interchange_equals_hooked_forward(subject: Subject) -> None:
    """The adapter's interchange engine (cached, or full forwards) equals the reference model
    run with a plain torch hook that writes the source state into the base at the site."""
    adapter = subject.make(batch_size=4)
    _needs(adapter, Capability.SITE_READ, Capability.SITE_EDIT)
    from harness.interventions import TokenBatch, vanilla
    from harness.whitebox.layout import Layout

    engine = adapter.interchange_engine()
    base_ids = [adapter.tok_encode(t) for t in PROMPTS[:3]]
    src_ids = [adapter.tok_encode(t) for t in PROMPTS[1:4]]
    base, src = engine.run(TokenBatch.from_ids(base_ids, adapter.pad_token_id)), engine.run(TokenBatch.from_ids(src_ids, adapter.pad_token_id))
    layout, dev = Layout.of(subject.reference), _ref_device(subject)
    for site in (0, 1, adapter.num_layers):
        fast = engine.intervene(base, site, [1, 1, 1], src.at(site, [0, 0, 0]), vanilla)
        for i, (b_ids, s_ids) in enumerate(zip(base_ids, src_ids)):
            with torch.no_grad():
                h_src = subject.reference(input_ids=torch.tensor([s_ids], device=dev), output_hidden_states=True).hidden_states[site][0, 0]

                def write(module, args, kwargs=None, output=None):
                    hidden = (args[0] if args else kwargs["hidden_states"]) if output is None else (output[0] if isinstance(output, tuple) else output)
                    hidden = hidden.clone()
                    hidden[0, 1] = h_src
                    if output is None:
                        return ((hidden, *args[1:]), kwargs) if args else (args, {**kwargs, "hidden_states": hidden})
                    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

                handle = (layout.blocks[0].register_forward_pre_hook(lambda m, a, k: write(m, a, k), with_kwargs=True) if site == 0
                          else layout.blocks[site - 1].register_forward_hook(lambda m, a, o: write(m, a, output=o)))
                try:
                    oracle = subject.reference(input_ids=torch.tensor([b_ids], device=dev)).logits[0, -1]
                finally:
                    handle.remove()
            torch.testing.assert_close(fast[i].float().cpu(), oracle.float().cpu(), atol=10 * subject.atol, rtol=10 * subject.atol,
                                       msg=_prefixed(f"interchange at site {site}"))


def check_site_states_equal_full_run(subject: Subject) -> None:
    """``engine.site_states`` (which may stop above the site) gives the states a full clean
    run keeps there, and leaves the model whole: the next forward's logits are unchanged."""
    adapter = subject.make(batch_size=4)
    _needs(adapter, Capability.SITE_READ)
    from harness.interventions import TokenBatch

    engine = adapter.interchange_engine()
    batch = TokenBatch.from_ids([adapter.tok_encode(t) for t in PROMPTS[:3]], adapter.pad_token_id)
    full = engine.run(batch)
    for site in (0, 1, adapter.num_layers):
        got = engine.site_states(batch, site)
        for i, n in enumerate(batch.lengths):
            torch.testing.assert_close(got[i, :n].float().cpu(), full.states[site][i, :n].float().cpu(), atol=subject.atol,
                                       rtol=subject.atol, msg=_prefixed(f"site_states at site {site}"))
    again = engine.run(batch)
    torch.testing.assert_close(again.final.float().cpu(), full.final.float().cpu(), atol=subject.atol, rtol=subject.atol,
                               msg=_prefixed("a clean run after site_states"))


def check_hooks_removed_after_exception(subject: Subject) -> None:
    """An edit that raises leaves nothing behind: the next clean forward equals one before it."""
    adapter = subject.make(batch_size=4)
    _needs(adapter, Capability.SITE_EDIT)
    before = adapter.forward(PROMPTS[:2]).logits

    def boom(h, _s):
        raise RuntimeError("boom")

    for site in (0, 1, ("mlp_out", 1)):
        try:
            adapter.run_with_interventions(PROMPTS[:2], [Intervention(site, [0, 0], boom)], grad=False)
        except RuntimeError as err:
            assert "boom" in str(err)
        else:
            raise AssertionError(f"an intervention that raises at site {site!r} did not raise")
    torch.testing.assert_close(adapter.forward(PROMPTS[:2]).logits, before, atol=0, rtol=0)
    leftover = [m for m in subject.reference.modules() if m._forward_hooks or m._forward_pre_hooks]
    assert not leftover, f"hooks left on {len(leftover)} modules"


def check_oom_backoff(subject: Subject) -> None:
    """An out-of-memory error halves the model batch and retries the same items: nothing lost,
    nothing scored twice, results equal to an unconstrained run."""
    if subject.inject_oom is None:
        raise Skip("the subject cannot inject out-of-memory errors")
    reference = subject.make(batch_size=1)
    adapter = subject.make(batch_size=8)
    reqs = [LoglikelihoodRequest(c, x) for c, x in zip(CONTEXTS * 2, CONTINUATIONS * 2)]
    gen = [GenerationRequest(p, max_new_tokens=4) for p in PROMPTS]
    want_scores, want_text = reference.loglikelihood(reqs), [r.text for r in reference.generate(gen)]
    with subject.inject_oom(adapter, 2):
        got_scores, got_text = adapter.loglikelihood(reqs), [r.text for r in adapter.generate(gen)]
    for a, b in zip(got_scores, want_scores):
        _close(a.logprob, b.logprob, subject.atol, "log-likelihood after OOM back-off")
    assert got_text == want_text, "generation after OOM back-off differs"
    assert adapter.sizer.size() <= 2, f"batch size after OOM is {adapter.sizer.size()}, expected <= 2"


def check_weight_edits_restore_bit_for_bit(subject: Subject) -> None:
    """Weights changed inside ``weight_edits`` are restored exactly, also when the block raises."""
    adapter = subject.make(batch_size=4)
    _needs(adapter, Capability.WEIGHT_EDITS)
    before = {k: v.detach().clone() for k, v in subject.reference.state_dict().items()}

    class Scale:
        def apply(self, adapter, edits):
            with torch.no_grad():
                for p in subject.reference.parameters():
                    p.mul_(1.5)

    logits = adapter.forward(PROMPTS[:1]).logits
    try:
        with adapter.weight_edits(Scale(), []):
            assert not torch.allclose(adapter.forward(PROMPTS[:1]).logits, logits), "the edit changed nothing"
            raise KeyError("inside the edit")
    except KeyError:
        pass
    after = subject.reference.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "weights were not restored bit for bit"


CHECKS: dict[str, Callable[[Subject], None]] = {
    "loglikelihood_vs_brute_force": check_loglikelihood_vs_brute_force,
    "batched_equals_unbatched": check_batched_equals_unbatched,
    "generation_equals_one_at_a_time": check_generation_equals_one_at_a_time,
    "site_reads_equal_hidden_states": check_site_reads_equal_hidden_states,
    "mlp_sites": check_mlp_sites,
    "mlp_output_map": check_mlp_output_map,
    "interchange_equals_hooked_forward": check_interchange_equals_hooked_forward,
    "site_states_equal_full_run": check_site_states_equal_full_run,
    "hooks_removed_after_exception": check_hooks_removed_after_exception,
    "oom_backoff": check_oom_backoff,
    "weight_edits_restore_bit_for_bit": check_weight_edits_restore_bit_for_bit,
}


def run_all(subject: Subject) -> dict[str, str]:
    """Every check on ``subject``: ``{check: "pass" | "skip: why" | "FAIL: what"}``."""
    report = {}
    for name, check in CHECKS.items():
        try:
            check(subject)
            report[name] = "pass"
        except Skip as why:
            report[name] = f"skip: {why}"
        except AssertionError as err:
            report[name] = f"FAIL: {err}"
    return report

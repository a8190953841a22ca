"""Log-likelihood scoring: batched == one at a time, shared context == plain, == a brute-force forward."""

import pytest
import torch
import torch.nn.functional as F

from harness.models import scoring
from harness.models.base import LoglikelihoodRequest as L
from harness.models.base import RollingRequest
from harness.testing import tiny_adapter

ARCHS = ["llama", "gpt2", "neox"]
REQUESTS = [
    L("Question: What is the capital of France?\nAnswer:", " Paris"),
    L("Question: What is the capital of France?\nAnswer:", " The capital of France is Lyon, a city in the south"),
    L("Question: What is the capital of France?\nAnswer:", " Rome"),
    L("Hi", " there"),
    L("A context with a trailing space ", "and a continuation"),
    L("", "An empty context starts from the prefix token"),
    L("Short", " x"),
    L("Hi", " there"),  # a duplicate
]


def brute_force(adapter, req):
    ctx, cont = scoring.encode_pair(adapter, req.context, req.continuation)
    with torch.no_grad():
        logp = F.log_softmax(adapter.model(torch.tensor([ctx + cont])).logits[0].double(), -1)
    return sum(logp[len(ctx) - 1 + j, t].item() for j, t in enumerate(cont))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("share", [True, False])
def test_batched_equals_unbatched(arch, share):
    batched = tiny_adapter(arch, batch_size=3)
    single = tiny_adapter(arch, batch_size=1)
    got = scoring.loglikelihood(batched, REQUESTS, share_context=share)
    ref = [scoring.loglikelihood(single, [r], share_context=False)[0] for r in REQUESTS]
    for g, r in zip(got, ref):
        assert g.logprob == pytest.approx(r.logprob, abs=1e-4)
        assert g.is_greedy == r.is_greedy
        assert g.tokens == r.tokens
        assert len(g.token_logprobs) == len(g.tokens)


@pytest.mark.parametrize("arch", ARCHS)
def test_matches_brute_force_forward(arch):
    adapter = tiny_adapter(arch)
    for req, res in zip(REQUESTS, adapter.loglikelihood(REQUESTS)):
        assert res.logprob == pytest.approx(brute_force(adapter, req), abs=1e-4)


def test_trailing_space_moves_to_continuation():
    adapter = tiny_adapter("llama")
    ctx, cont = scoring.encode_pair(adapter, "Answer: ", "yes")
    assert adapter.tokenizer.decode(ctx) == "Answer:"
    assert adapter.tokenizer.decode(cont) == " yes"


def test_is_greedy_true_for_the_argmax_continuation():
    adapter = tiny_adapter("llama")
    ctx = "Once upon a time"
    nxt = adapter.model(torch.tensor([adapter.tok_encode(ctx)])).logits[0, -1].argmax().item()
    text = adapter.tokenizer.decode([nxt])
    res = adapter.loglikelihood([L(ctx, text)])[0]
    if res.tokens == (nxt,):  # the decoded text re-encodes to the same token
        assert res.is_greedy


def test_rolling_windows_cover_every_token_once():
    tokens = list(range(100, 137))
    windows = scoring.rolling_windows(tokens, prefix=1, max_len=10)
    assert [t for _, tgt in windows for t in tgt] == tokens
    seq = [1] + tokens
    for ctx, tgt in windows:
        inputs = (ctx + tgt)[:-1]
        assert len(inputs) <= 10
        start = tokens.index(tgt[0])
        assert ctx[-1] == seq[start]  # the token right before the first target


def test_rolling_equals_brute_force_when_it_fits():
    adapter = tiny_adapter("gpt2")
    text = "The quick brown fox jumps over the lazy dog. " * 3
    ids = [adapter.prefix_token_id] + adapter.tok_encode(text)
    with torch.no_grad():
        logp = F.log_softmax(adapter.model(torch.tensor([ids])).logits[0].double(), -1)
    expected = sum(logp[j, t].item() for j, t in enumerate(ids[1:]))
    assert adapter.loglikelihood_rolling([RollingRequest(text)])[0] == pytest.approx(expected, abs=1e-3)
    adapter.max_length = 7  # force several windows: total still equals the sum over windows' targets
    windowed = adapter.loglikelihood_rolling([RollingRequest(text)])[0]
    assert windowed < 0 and windowed != pytest.approx(expected, abs=1e-6)


PRIMER = "Q: What is two plus two?\nA: Four.\n\nQ: Which ocean is the largest?\nA: The Pacific.\n\n"
PRIMED = [L(f"{PRIMER}Q: {q}\nA:", a) for q in ("Who wrote Hamlet?", "Where is Rome?", "What is ice?")
          for a in (" Shakespeare", " A poet from England", " Nobody")]


@pytest.mark.parametrize("arch", ARCHS)
def test_primer_runs_once_per_call_and_changes_nothing(arch):
    """The few-shot primer shared by every question runs once, not once per question or batch."""
    reused = tiny_adapter(arch, batch_size=2)  # two contexts (each one packed row) per batch: two batches
    ran: list[int] = []
    reused.model.get_input_embeddings().register_forward_hook(lambda m, args, out: ran.append(args[0].numel()))
    got = reused.loglikelihood(PRIMED)
    calls = list(ran)  # (brute_force below runs the model too)
    ref = scoring.loglikelihood(tiny_adapter(arch, batch_size=2, share_prefix=False), PRIMED)
    for g, r, req in zip(got, ref, PRIMED):
        assert g.logprob == pytest.approx(r.logprob, abs=1e-4)
        assert g.logprob == pytest.approx(brute_force(reused, req), abs=1e-4)
        assert g.is_greedy == r.is_greedy and g.tokens == r.tokens
    primer = len(reused.tok_encode(PRIMER.rstrip()))
    assert len(calls) == 1 + 2 * 2  # the primer, then per batch its contexts' suffixes and their continuations
    assert calls[0] >= primer - 2 and all(n < primer for n in calls[1:])


@pytest.mark.parametrize("arch", ARCHS + ["gemma3"])
def test_shared_answer_prefixes_run_once(arch):
    """Continuations packed as a prefix tree: equal to brute force, each shared prefix run once."""
    adapter = tiny_adapter(arch, batch_size=8)
    conts = [" The cat sat on the mat", " The cat sat down", " The cat ran", " The dog", " A bird", " The cat sat on the mat"]
    reqs = [L("Question: What is on the mat?\nAnswer:", c) for c in conts]
    ran: list[int] = []
    adapter.model.get_input_embeddings().register_forward_hook(lambda m, args, out: ran.append(args[0].numel()))
    got = adapter.loglikelihood(reqs)
    calls = list(ran)
    for req, res in zip(reqs, got):
        assert res.logprob == pytest.approx(brute_force(adapter, req), abs=1e-4)
    tails = {tuple(scoring.encode_pair(adapter, r.context, r.continuation)[1][: j + 1])
             for r in reqs for j in range(len(scoring.encode_pair(adapter, r.context, r.continuation)[1]) - 1)}
    assert calls[-1] == len(tails)  # one packed row of the unique tail prefixes
    assert len(tails) < sum(len(scoring.encode_pair(adapter, r.context, r.continuation)[1]) - 1 for r in reqs)

"""Log-likelihood scoring, batched, with shared-context reuse.

Tokenisation follows lm-eval exactly: trailing spaces of the context move to the
continuation, ``context + continuation`` is encoded together and the continuation tokens are
what follows the separately encoded context. The model therefore always sees
``ctx_ids + cont_ids``, so requests with equal ``ctx_ids`` (multiple choice) can run the
context once and score every continuation from its cached keys/values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol, Sequence, cast

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from harness.models.base import LoglikelihoodRequest, LoglikelihoodResult, RollingRequest
from harness.models.batching import BatchSizer, run_batched
from harness.models.prefixes import prefix_rows, reuses_prefixes, store_shared_prefix
from harness.models.tokenization import left_padded

if TYPE_CHECKING:  # pragma: no cover
    from harness.models.hf import HFAdapter


class Encoder(Protocol):
    """What lm-eval's context/continuation split needs: the adapter's tokenisation."""

    @property
    def prefix_token_id(self) -> int: ...

    def tok_encode(self, text: str) -> list[int]: ...


class Scorable(Encoder, Protocol):
    """What :func:`loglikelihood` needs of any adapter; the sequence scorers (``plain``, and
    the shared-context path of the transformers adapter) take the adapter itself."""

    max_length: int
    sizer: BatchSizer


def encode_pair(adapter: Encoder, context: str, continuation: str) -> tuple[list[int], list[int]]:
    if context == "":
        return [adapter.prefix_token_id], adapter.tok_encode(continuation)
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        continuation = context[-n_spaces:] + continuation
        context = context[:-n_spaces]
    whole = adapter.tok_encode(context + continuation)
    ctx = adapter.tok_encode(context)
    return ctx, whole[len(ctx):]


@dataclass
class _Item:
    index: int
    ctx: list[int]
    cont: list[int]


#: Scores whole ``ctx + cont`` sequences of one batch for the adapter passed first.
PlainScorer = Callable[[Any, Sequence[_Item]], list[LoglikelihoodResult]]


@dataclass
class _Group:
    ctx: list[int]
    items: list[_Item]


def _result(logprobs: torch.Tensor, greedy: torch.Tensor, cont: list[int]) -> LoglikelihoodResult:
    lp = logprobs.double()
    return LoglikelihoodResult(
        logprob=float(lp.sum()),
        is_greedy=bool(greedy.all()),
        token_logprobs=tuple(float(x) for x in lp),
        tokens=tuple(cont),
    )


def _score_states(adapter: HFAdapter, states: torch.Tensor, conts: Sequence[list[int]]) -> list[LoglikelihoodResult]:
    """Results from final-layer states ``(n_tokens_total, d)`` that predict the concatenated ``conts``."""
    return _score_logits(adapter.layout.head_logits(states), conts)  # the base model already normed


def _score_logits(logits: torch.Tensor, conts: Sequence[list[int]]) -> list[LoglikelihoodResult]:
    """Results from logits ``(n_tokens_total, V)`` that predict the concatenated ``conts``."""
    lg = F.log_softmax(logits.float(), dim=-1)
    flat = torch.tensor([t for c in conts for t in c], device=lg.device)
    picked = lg.gather(1, flat[:, None])[:, 0].cpu()
    greedy = (lg.argmax(-1) == flat).cpu()
    out, lo = [], 0
    for cont in conts:
        out.append(_result(picked[lo : lo + len(cont)], greedy[lo : lo + len(cont)], cont))
        lo += len(cont)
    return out


def _base(adapter: HFAdapter, **kwargs) -> Any:
    """The base model's output (final-normed states, cache): the LM head runs only where needed."""
    return adapter.layout.base(**kwargs)


def _layout_plain(adapter: Any, items: Sequence[_Item]) -> tuple[torch.Tensor, torch.Tensor, list[int], list[int]]:
    """Right-padded ``(ctx + cont)[:-1]`` (truncated on the left to max length), each row's
    first predicting position and length."""
    seqs, starts = [], []
    for it in items:
        full = (it.ctx + it.cont)[-(adapter.max_length + 1):][:-1]
        seqs.append(full)
        starts.append(len(full) - len(it.cont))
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), adapter.pad_token_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s)
        mask[i, : len(s)] = 1
    return ids.to(adapter.device), mask.to(adapter.device), starts, [len(s) for s in seqs]


def plain_batch_via_forward(adapter: Any, items: Sequence[_Item]) -> list[LoglikelihoodResult]:
    """The backend-neutral scorer: one ``adapter.forward_ids`` over whole sequences (any
    adapter with a white-box forward, e.g. nnsight's traces), logits read where scored."""
    ids, mask, starts, lengths = _layout_plain(adapter, items)
    logits = adapter.forward_ids(ids, mask, lengths).logits
    picked = torch.cat([logits[i, st : st + len(it.cont)] for i, (it, st) in enumerate(zip(items, starts))])
    return _score_logits(picked, [it.cont for it in items])


def _plain_batch(adapter: HFAdapter, items: Sequence[_Item]) -> list[LoglikelihoodResult]:
    """One forward over whole ``ctx + cont`` sequences; the LM head only where scored."""
    ids, mask, starts, _ = _layout_plain(adapter, items)
    with torch.no_grad():
        hidden = _base(adapter, input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
        picked = torch.cat([hidden[i, st : st + len(it.cont)] for i, (it, st) in enumerate(zip(items, starts))])
        return _score_states(adapter, picked, [it.cont for it in items])


def _shared_batch(adapter: HFAdapter, groups: Sequence[_Group], reuse: bool = False) -> list[list[LoglikelihoodResult]]:
    """Run each group's context once (after its longest prefix in the adapter's prefix store,
    e.g. the task's few-shot primer, when ``reuse``), then all its continuations in one row from
    the cached state, packed as a prefix tree (each token attends to the context and its own
    continuation's earlier tokens only; shared answer prefixes run once)."""
    dev, pad = adapter.device, adapter.tokenizer.pad_token_id
    ctx_lens = [len(g.ctx) for g in groups]
    cache, prefix_mask, reused = None, torch.ones((len(groups), 0), dtype=torch.long, device=dev), [0] * len(groups)
    if reuse:
        cache, prefix_mask, reused = prefix_rows(adapter, [g.ctx for g in groups])
    ids, suffix_mask = left_padded([g.ctx[n:] for g, n in zip(groups, reused)], pad)
    ids, ctx_mask = ids.to(dev), torch.cat([prefix_mask, suffix_mask.to(dev)], dim=1)
    positions = (ctx_mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1]:]
    with torch.no_grad():
        out = _base(adapter, input_ids=ids, attention_mask=ctx_mask, position_ids=positions, past_key_values=cache, use_cache=True)
    last_states = out.last_hidden_state[:, -1]
    cache = out.past_key_values

    tries = [_Trie.of([it.cont for it in g.items]) for g in groups]
    width = max(1, max(len(t.tokens) for t in tries))
    tail_ids = torch.full((len(groups), width), pad, dtype=torch.long)
    positions = torch.zeros_like(tail_ids)
    allowed = torch.zeros((len(groups), width, width), dtype=torch.bool)
    for i, (t, n) in enumerate(zip(tries, ctx_lens)):
        tail_ids[i, : len(t.tokens)] = torch.tensor(t.tokens, dtype=torch.long)
        positions[i, : len(t.tokens)] = n + torch.tensor(t.depths, dtype=torch.long)
        allowed[i, : len(t.tokens), : len(t.tokens)] = t.ancestry()
        allowed[i, len(t.tokens) :, len(t.tokens) :] = torch.eye(width - len(t.tokens), dtype=torch.bool)  # padding: itself
    allowed = torch.cat([ctx_mask.bool()[:, None, :].expand(-1, width, -1).cpu(), allowed], dim=2)
    dtype = last_states.dtype
    mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill(~allowed, torch.finfo(dtype).min)[:, None].to(dev)
    with torch.no_grad():
        tail = _base(adapter, input_ids=tail_ids.to(dev), attention_mask=mask, position_ids=positions.to(dev),
                     past_key_values=cache, use_cache=True).last_hidden_state
        picked = torch.cat([torch.cat([last_states[gi, None], tail[gi, t.paths[j]]]) for gi, (g, t) in enumerate(zip(groups, tries)) for j in range(len(g.items))])
        flat = _score_states(adapter, picked, [it.cont for g in groups for it in g.items])
    out_groups, lo = [], 0
    for g in groups:
        out_groups.append(flat[lo : lo + len(g.items)])
        lo += len(g.items)
    return out_groups


@dataclass
class _Trie:
    """The prefix tree of continuations' input tails (``cont[:-1]``), flattened parents first:
    a continuation prefix shared by several answers runs once. ``paths[c][j]`` is the node whose
    state predicts token ``j + 1`` of continuation ``c`` (token 0 is predicted by the context)."""

    tokens: list[int]
    parents: list[int]
    depths: list[int]
    paths: list[list[int]]

    @classmethod
    def of(cls, conts: Sequence[list[int]]) -> _Trie:
        index: dict[tuple[int, ...], int] = {}
        tokens: list[int] = []
        parents: list[int] = []
        depths: list[int] = []
        paths: list[list[int]] = []
        for cont in conts:
            parent, path = -1, []
            for j, t in enumerate(cont[:-1]):
                key = tuple(cont[: j + 1])
                if key not in index:
                    index[key] = len(tokens)
                    tokens.append(t)
                    parents.append(parent)
                    depths.append(j)
                parent = index[key]
                path.append(parent)
            paths.append(path)
        return cls(tokens, parents, depths, paths)

    def ancestry(self) -> torch.Tensor:
        """(N, N) bool: node i attends to node k iff k is i or one of its ancestors."""
        n = len(self.tokens)
        out = torch.zeros((n, n), dtype=torch.bool)
        for i, parent in enumerate(self.parents):
            if parent >= 0:
                out[i] = out[parent]
            out[i, i] = True
        return out


def loglikelihood(
    adapter: Scorable, requests: Sequence[LoglikelihoodRequest], share_context: bool = True, progress: bool = False,
    plain: PlainScorer | None = None,
) -> list[LoglikelihoodResult]:
    """lm-eval's log-likelihoods. Contexts with several continuations run once, after their
    longest stored prefix (the primer every context of the call shares is stored first). ``plain`` scores whole sequences (default: the transformers
    path with the LM head only where scored); other backends pass :func:`plain_batch_via_forward`
    and ``share_context=False`` (the shared-context path is the transformers adapter's)."""
    plain_fn: PlainScorer = plain or _plain_batch
    shared_fn: Callable[[Any, Sequence[_Group], bool], list[list[LoglikelihoodResult]]] = _shared_batch
    items = [_Item(i, *encode_pair(adapter, r.context, r.continuation)) for i, r in enumerate(requests)]
    for it, req in zip(items, requests):
        if not it.cont:
            raise ValueError(f"continuation {req.continuation!r} of request {it.index} encodes to no tokens")
    groups: dict[tuple[int, ...], list[_Item]] = {}
    for it in items:
        groups.setdefault(tuple(it.ctx), []).append(it)
    # A packed tree's custom mask has no sliding window: such models share only contexts that fit in one.
    window = getattr(getattr(getattr(adapter, "model", None), "config", None), "sliding_window", None) if share_context else None
    limit = min(adapter.max_length, window or adapter.max_length)
    fits = lambda g: all(len(g[0].ctx) + len(it.cont) <= limit for it in g)  # noqa: E731
    shared = [_Group(list(k), v) for k, v in groups.items() if share_context and len(v) > 1 and fits(v)]
    shared_ids = {id(it) for g in shared for it in g.items}
    unshared = [it for it in items if id(it) not in shared_ids]
    unshared.sort(key=lambda it: (-(len(it.ctx) + len(it.cont)), it.index))
    shared.sort(key=lambda g: (-len(g.ctx), g.items[0].index))

    results: dict[int, LoglikelihoodResult] = {}
    bar = tqdm(total=len(items), desc="loglikelihood", disable=not progress, leave=False)
    n_rows = lambda b: sum(len(g.items) for g in b)  # noqa: E731 - continuations, for the progress bar
    hf = cast("HFAdapter", adapter)  # contexts are shared only by the transformers adapter (share_context)
    reuse = bool(shared) and reuses_prefixes(hf, [g.ctx for g in shared], max(len(it.cont) for g in shared for it in g.items))
    if reuse:
        store_shared_prefix(hf, [g.ctx for g in shared])  # the few-shot primer, once for the whole call
    shared_res = run_batched(shared, adapter.sizer, lambda b: shared_fn(adapter, b, reuse), on_batch=lambda b: bar.update(n_rows(b)))
    for g, res in zip(shared, shared_res):
        for it, r in zip(g.items, res):
            results[it.index] = r
    for it, r in zip(unshared, run_batched(unshared, adapter.sizer, lambda b: plain_fn(adapter, b), on_batch=lambda b: bar.update(len(b)))):
        results[it.index] = r
    bar.close()
    return [results[i] for i in range(len(items))]  # every item is shared or not: all scored


def rolling_windows(tokens: list[int], prefix: int, max_len: int) -> list[tuple[list[int], list[int]]]:
    """Disjoint (context, target) windows covering ``tokens`` once, each ≤ ``max_len`` inputs.

    The first window is predicted from ``prefix``; later ones see up to ``max_len`` preceding
    tokens (lm-eval's rolling log-likelihood with context length 1, made disjoint). The model
    input of a window is ``(context + target)[:-1]``.
    """
    seq = [prefix] + tokens  # seq[j] predicts tokens[j]
    windows = []
    for start in range(0, len(tokens), max_len):
        end = min(len(tokens), start + max_len)
        windows.append((seq[max(0, end - max_len) : start + 1], tokens[start:end]))
    return windows


def loglikelihood_rolling(adapter: Scorable, requests: Sequence[RollingRequest], progress: bool = False,
                          plain: PlainScorer | None = None) -> list[float]:
    plain_fn: PlainScorer = plain or _plain_batch
    items: list[_Item] = []
    owners: list[int] = []
    for i, req in enumerate(requests):
        for ctx, target in rolling_windows(adapter.tok_encode(req.text), adapter.prefix_token_id, adapter.max_length):
            items.append(_Item(len(items), ctx, target))
            owners.append(i)
    order = sorted(items, key=lambda it: (-(len(it.ctx) + len(it.cont)), it.index))
    bar = tqdm(total=len(order), desc="loglikelihood_rolling", disable=not progress, leave=False)
    scored = run_batched(order, adapter.sizer, lambda b: plain_fn(adapter, b), on_batch=lambda b: bar.update(len(b)))
    bar.close()
    totals = [0.0] * len(requests)
    for it, res in zip(order, scored):
        totals[owners[it.index]] += res.logprob
    return totals

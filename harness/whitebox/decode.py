"""The one KV-cached decode loop, shared by plain, shared-prefix and intervened generation.

A *prefill* (see :mod:`harness.models.generation` and :mod:`harness.interventions.generation`)
turns prompts into a :class:`Prefilled`: the KV cache, the attention mask over cached columns,
and the next-token logits. :func:`decode` then picks a token per row, feeds it back at that
row's next position (position ids count real tokens only, so left padding, right padding and a
shared prefix with padding after it all decode the same way) and stops rows by one EOS rule
(:func:`eos_ids`) and the requests' stop strings (:class:`StopTracker`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from harness.models.base import GenerationRequest, GenerationResult
from harness.whitebox.hooks import site_hooks
from harness.whitebox.kv_buffer import reserve
from harness.whitebox.layout import Layout, Site
from harness.whitebox.lookahead import PromptLookup


@dataclass
class Prefilled:
    cache: Any  # a transformers Cache holding every prompt column
    mask: torch.Tensor  # (B, W) 1 for real tokens, 0 for padding, over the cached columns
    logits: torch.Tensor  # (B, V) next-token logits after each prompt
    states: dict[Site, torch.Tensor] = field(default_factory=dict)  # site -> (B, 1, d) at each prompt's end


#: Scores for the next token from (logits (B, V), states {site: (B, 1, d)}, step).
ScoreFn = Callable[[torch.Tensor, dict, int], torch.Tensor]
#: One decoding forward of a backend: (ids (B, 1), mask (B, W), position ids (B, 1), cache,
#: sites) -> (next logits (B, V), cache, {site: (B, 1, d)}).
StepFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Any, Sequence[Site]], tuple[torch.Tensor, Any, dict]]
#: A forward of several new tokens per row: (ids (B, L), mask (B, W), position ids (B, L), cache)
#: -> (logits at every new token (B, L, V), cache).
BlockStepFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Any], tuple[torch.Tensor, Any]]
#: The next token ids (B,) from scores (B, V).
PickFn = Callable[[torch.Tensor], torch.Tensor]


def cut_at_stop(text: str, stops: Sequence[str]) -> tuple[str, bool]:
    """``text`` up to the earliest stop string, and whether one was found."""
    cut = min((i for i in (text.find(s) for s in stops if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    """The one EOS rule: the tokenizer's EOS plus any the generation config adds (Gemma ends
    turns with several)."""
    cfg = getattr(model, "generation_config", None)
    ids = getattr(cfg, "eos_token_id", None) if cfg is not None else None
    extra = list(ids) if isinstance(ids, (list, tuple)) else ([ids] if ids is not None else [])
    return {t for t in (tokenizer.eos_token_id, *extra) if t is not None}


def accepts_logits_to_keep(model: Any) -> bool:
    """Whether the model can return logits for the last position only (saves the LM head on
    every prompt position: ~40% of a prefill for Gemma's 262k vocabulary)."""
    return "logits_to_keep" in inspect.signature(model.forward).parameters


class StopTracker:
    """Per-row bookkeeping of a batched decode: the tokens each row produced, and why it ended
    (an EOS id, a stop string, or the length budget when neither came).

    ``limits`` gives each row its own token budget (a row that reaches it ends as "length" and,
    under plain greedy decoding, leaves the batch like a finished one); without it every row
    runs to the decode's ``max_new_tokens``."""

    def __init__(self, tokenizer: Any, stops: Sequence[Sequence[str]], eos: set[int], limits: Sequence[int] | None = None):
        self.tok, self.stops, self.eos = tokenizer, [tuple(s) for s in stops], eos
        self.tokens: list[list[int]] = [[] for _ in self.stops]
        self.finish = [""] * len(self.stops)
        self.eos_token: list[int | None] = [None] * len(self.stops)  # the EOS id that ended a row
        if limits is not None and len(limits) != len(self.stops):
            raise ValueError(f"{len(limits)} token limits for {len(self.stops)} rows")
        if limits is not None and any(int(n) < 1 for n in limits):
            raise ValueError("every row's token limit must be at least 1")
        self.limits = None if limits is None else [int(n) for n in limits]

    @classmethod
    def for_requests(cls, tokenizer: Any, requests: Sequence[GenerationRequest], eos: set[int]) -> StopTracker:
        return cls(tokenizer, [r.stop for r in requests], eos)

    def add(self, next_tokens: Sequence[int]) -> bool:
        """Record one step's token per row (finished rows ignore theirs); True when all ended."""
        for i, t in enumerate(next_tokens):
            self.add_to_row(i, t)
        return all(self.finish)

    def add_to_row(self, i: int, t: int) -> bool:
        """Record row ``i``'s next token (ignored once it ended); True when the row has ended."""
        if self.finish[i]:
            return True
        if t in self.eos:
            self.finish[i], self.eos_token[i] = "eos", int(t)
            return True
        self.tokens[i].append(t)
        stops = self.stops[i]
        if stops and _stop_in_tail(self.tok, self.tokens[i], stops):
            self.finish[i] = "stop"
        elif self.limits is not None and len(self.tokens[i]) >= self.limits[i]:
            self.finish[i] = "length"
        return bool(self.finish[i])

    def results(self) -> list[GenerationResult]:
        out = []
        for stops, toks, why in zip(self.stops, self.tokens, self.finish):
            text, stopped = cut_at_stop(self.tok.decode(toks, skip_special_tokens=True), stops)
            out.append(GenerationResult(text=text, finish_reason="stop" if stopped else (why or "length"), n_tokens=len(toks)))
        return out


def _stop_in_tail(tok: Any, tokens: list[int], stops: Sequence[str]) -> bool:
    """Whether the newest token completed a stop string. A stop of n characters spans at most
    n tokens, so only that tail is decoded (decoding everything each step is quadratic)."""
    tail = max(len(s) for s in stops) + 2
    return cut_at_stop(tok.decode(tokens[-tail:]), stops)[1]


def greedy(scores: torch.Tensor) -> torch.Tensor:
    return scores.argmax(-1)


def sampler(temperature: float, top_p: float, generators: Sequence[torch.Generator | None]) -> PickFn:
    """Temperature / nucleus sampling with one generator per row (so batching keeps seeds)."""

    def pick(scores: torch.Tensor) -> torch.Tensor:
        probs = torch.softmax(scores.float() / max(temperature, 1e-6), dim=-1)
        if top_p < 1.0:
            sorted_p, order = probs.sort(-1, descending=True)
            keep = sorted_p.cumsum(-1) - sorted_p < top_p
            probs = torch.zeros_like(probs).scatter(-1, order, sorted_p * keep)
            probs = probs / probs.sum(-1, keepdim=True)
        return torch.stack([torch.multinomial(p, 1, generator=g)[0] for p, g in zip(probs.cpu(), generators)]).to(scores.device)

    return pick


def hf_step(layout: Layout) -> StepFn:
    """The decoding forward of a transformers model: one token per row on the KV cache, the
    LM head at that position only, sites read through the one hook primitive."""
    model = layout.model
    keep = {"logits_to_keep": 1} if accepts_logits_to_keep(model) else {}

    def step(ids, mask, positions, cache, sites):
        with site_hooks(layout, read=sites) as read:
            out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True, **keep)
        return out.logits[:, -1, :], out.past_key_values, {s: h[:, -1:, :] for s, h in read.items()}

    return step


def hf_block_step(layout: Layout) -> BlockStepFn:
    """The forward that checks drafts: several new tokens per row, logits at every one of them."""
    model = layout.model
    keeps = accepts_logits_to_keep(model)

    def step(ids, mask, positions, cache):
        keep = {"logits_to_keep": ids.shape[1]} if keeps else {}
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True, **keep)
        return out.logits[:, -ids.shape[1]:, :], out.past_key_values

    return step


#: Rows retired from a decode: (their indices in the request order, the cache, their rows in it,
#: the mask over its columns). Called before finished rows leave the batch and for the rest at the end.
RetireFn = Callable[[list[int], Any, list[int], torch.Tensor], None]


@torch.no_grad()
def decode(
    step_fn: StepFn,
    prefilled: Prefilled,
    tracker: StopTracker,
    max_new_tokens: int,
    pick: PickFn = greedy,
    score: ScoreFn | None = None,
    sites: Sequence[Site] = (),
    on_step: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
    retire: RetireFn | None = None,
    lookup: PromptLookup | None = None,
    block_step: BlockStepFn | None = None,
) -> StopTracker:
    """Generate up to ``max_new_tokens`` per row from ``prefilled`` with the backend's
    ``step_fn`` (:func:`hf_step` for transformers); ``score`` (a decoding rule) turns each step's
    logits and the states at ``sites`` into scores; ``on_step`` sees each step's logits (B, V)
    and picked tokens (B,) (e.g. to keep the distributions). The cache is preallocated for
    ``max_new_tokens`` more columns (:func:`~harness.whitebox.kv_buffer.reserve`). Under plain
    greedy decoding, finished rows leave the batch once they are a quarter of it (handed to
    ``retire`` first), so the rows still generating stop paying for them; with ``lookup`` and
    ``block_step`` each forward also checks prompt-lookup drafts
    (:mod:`~harness.whitebox.lookahead`)."""
    from harness.progress import activity

    compact = pick is greedy and score is None and on_step is None
    drafting = lookup is not None and block_step is not None and compact and not sites
    if drafting and tracker.limits is None:
        tracker.limits = [max_new_tokens] * len(tracker.finish)  # rows end by themselves: steps no longer count tokens
    extra = max_new_tokens + (2 * max_new_tokens + (lookup.max_tokens if lookup else 0) if drafting else 0)
    cache, mask, logits, states = reserve(prefilled.cache, extra), prefilled.mask, prefilled.logits, prefilled.states
    rows = list(range(mask.shape[0]))  # request index of each batch row
    for step in range(max_new_tokens):
        done_tokens = max(len(t) for t in tracker.tokens) if drafting else step
        activity(f"generating: token {done_tokens + 1}/{max_new_tokens}, {len(rows)} rows")
        scores = score(logits, states, step) if score is not None else logits
        nxt = pick(scores)
        if on_step is not None:
            on_step(logits, nxt)
        picked = nxt.tolist()
        if len(rows) < len(tracker.finish):
            full = [-1] * len(tracker.finish)  # retired rows are finished: the tracker ignores theirs
            for j, r in enumerate(rows):
                full[r] = picked[j]
            picked = full
        if tracker.add(picked) or step == max_new_tokens - 1:
            break
        done = [j for j, r in enumerate(rows) if tracker.finish[r]] if compact else []
        if done and 4 * len(done) >= len(rows):
            if retire is not None:
                retire([rows[j] for j in done], cache, done, mask)
            keep = torch.tensor([j for j in range(len(rows)) if not tracker.finish[rows[j]]], device=mask.device)
            cache.batch_select_indices(keep)
            mask, nxt, rows = mask[keep], nxt[keep], [rows[j] for j in keep.tolist()]
        drafts = _drafts(lookup, tracker, rows) if drafting and lookup is not None else []
        if any(drafts) and block_step is not None:
            logits, cache, mask = _check_drafts(block_step, nxt, drafts, mask, cache, tracker, rows)
            continue
        positions = mask.sum(-1, keepdim=True)  # real tokens so far = the new token's position
        mask = torch.cat([mask, torch.ones_like(nxt)[:, None].to(mask.dtype)], dim=1)
        logits, cache, states = step_fn(nxt[:, None], mask, positions, cache, sites)
    if retire is not None:
        retire(rows, cache, list(range(len(rows))), mask)
    return tracker


def _drafts(lookup: PromptLookup, tracker: StopTracker, rows: list[int]) -> list[list[int]]:
    """Each batch row's draft; none for a finished row (it waits for the batch to shrink)."""
    limits = tracker.limits or [0] * len(tracker.finish)
    cap = lookup.per_row(sum(not tracker.finish[r] for r in rows))
    return [[] if tracker.finish[r] else lookup.draft(r, tracker.tokens[r], min(cap, limits[r] - len(tracker.tokens[r]))) for r in rows]


def _check_drafts(block_step: BlockStepFn, nxt: torch.Tensor, drafts: list[list[int]], mask: torch.Tensor, cache: Any,
                  tracker: StopTracker, rows: list[int]) -> tuple[torch.Tensor, Any, torch.Tensor]:
    """Feed each row's picked token and its draft in one forward; keep the draft's prefix that
    greedy decoding confirms (recorded in ``tracker``). Returns the logits after each row's last
    kept token, the cache and the mask, in which rejected columns are masked out."""
    width = 1 + max(len(d) for d in drafts)
    ids = torch.full((len(rows), width), int(nxt[0]), dtype=nxt.dtype, device=nxt.device)
    fed = torch.zeros((len(rows), width), dtype=mask.dtype, device=mask.device)
    ids[:, 0], fed[:, 0] = nxt, 1
    for j, d in enumerate(drafts):
        if d:
            ids[j, 1 : 1 + len(d)] = torch.tensor(d, dtype=ids.dtype)
            fed[j, 1 : 1 + len(d)] = 1
    positions = mask.sum(-1, keepdim=True) + torch.arange(width, device=mask.device)[None, :]
    block_logits, cache = block_step(ids, torch.cat([mask, fed], dim=1), positions, cache)
    greedy_ids = block_logits.argmax(-1).tolist()
    kept = []
    for j, (r, d) in enumerate(zip(rows, drafts)):
        n = 0
        while n < len(d) and greedy_ids[j][n] == d[n]:
            n += 1
            if tracker.add_to_row(r, d[n - 1]):
                break
        kept.append(n)
    cols = torch.arange(width, device=mask.device)[None, :] <= torch.tensor(kept, device=mask.device)[:, None]
    index = torch.tensor(kept, device=block_logits.device)
    return block_logits[torch.arange(len(rows), device=block_logits.device), index], cache, torch.cat([mask, cols.to(mask.dtype)], dim=1)

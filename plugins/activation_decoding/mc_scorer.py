"""Score multiple-choice answers under every method setting from one forward per question.

For a context c and answer y_1..y_m (tokenised as lm-eval does: the whole string, split at the
context's own token count), token t is scored from the final layer's distribution at the
position before it:

    greedy          log p(y_t)
    activation      log p(y_t) - alpha * E_l(y_t)
    dola            DoLa contrast at y_t (premature layer picked per position by JSD)
    activation_dola DoLa contrast at y_t - alpha * E_l(y_t)

and an answer's score is the sum over its tokens. E_l is the in-context entropy of the info
layer l over *all* positions of prompt + answer (as the paper's MC code does).

Speed: the answers of a question share a token prefix (primer + question). That prefix is run
once; its KV cache is repeated over the answers, which are then run as one right-padded batch.
The prefix's own cache is kept for the next question, so the few-shot primer runs only once.
Only the E values of the answer tokens are needed, so E costs n * m * d per answer, not n * V * d.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from harness_plugins.activation_decoding.contrast import candidate_layers, dola_scores, relative_top_mask
from harness_plugins.activation_decoding.entropy import token_entropy
from harness_plugins.activation_decoding.settings import MethodSetting, resolve_layer

#: DoLa's multiple-choice code writes this score for tokens outside the relative-top set.
RELATIVE_TOP_VALUE = -1000.0


@dataclass
class AnswerScores:
    """Per-setting scores of one answer, plus what is worth logging."""

    scores: dict[str, float]
    n_tokens: int
    logprob: float
    extras: dict[str, Any] = field(default_factory=dict)


class MCScorer:
    """Scores answers for a fixed list of settings on a transformers causal LM."""

    #: Answer tokens whose premature-layer distributions are held at once (C x ROW_CHUNK x V floats).
    ROW_CHUNK = 64
    #: Shared tokens with the previous question's prefix below which its cache is not reused.
    MIN_REUSE = 16

    def __init__(self, adapter: Any, settings: Sequence[MethodSetting], use_prefix_cache: bool = True):
        self.adapter = adapter
        self.use_prefix_cache = use_prefix_cache
        self.n_layers = adapter.num_layers
        self.unembed = adapter.unembedder()
        self.settings = list(settings)
        self.entropy_keys = sorted({(resolve_layer(s.info_layer, self.n_layers), s.final_norm) for s in self.settings if s.uses_entropy})
        self.dola_keys = sorted({self._dola_key(s) for s in self.settings if s.uses_dola})
        sites = {layer for layer, _ in self.entropy_keys}
        for cands, *_ in self.dola_keys:
            sites.update(cands)
        self.sites = sorted(sites)
        self.device = adapter.device
        self._last: tuple[list[int], dict[int, torch.Tensor], Any] | None = None

    # -- features ---------------------------------------------------------------------------
    @torch.no_grad()
    def score(self, context: str, answers: Sequence[str]) -> list[AnswerScores]:
        """Score " " + answer after ``context`` for every answer: one batched forward per model
        batch (by default all of a question's answers at once; ``--batch-size`` and
        out-of-memory halving split them through the adapter's one batching path)."""
        from harness.models.batching import run_batched

        return run_batched(list(answers), self.adapter.sizer, lambda chunk: self._score(context, chunk), default=len(answers))

    @torch.no_grad()
    def _score(self, context: str, answers: Sequence[str]) -> list[AnswerScores]:
        pairs = [self.adapter.encode_pair(context, " " + a) for a in answers]
        for a, (_, cont) in zip(answers, pairs):
            if not cont:
                raise ValueError(f"answer {a!r} encodes to no tokens after the context")
        wholes = [ctx + cont for ctx, cont in pairs]
        longest = max(len(w) for w in wholes)
        if longest > self.adapter.max_length:
            raise ValueError(f"prompt + answer is {longest} tokens, more than the model's {self.adapter.max_length}")
        ctx_lens = [len(ctx) for ctx, _ in pairs]
        prefix = _common_prefix(wholes) if self.use_prefix_cache and len(wholes) > 1 else 0
        prefix = max(0, min(prefix, min(ctx_lens) - 1))  # the first predicting position stays in the suffix run
        prefix_states: dict[int, torch.Tensor] = {}
        cache = None
        if prefix > 0:
            prefix_states, cache = self._run_prefix(wholes[0][:prefix])
            cache.batch_repeat_interleave(len(wholes))
        suffixes = [w[prefix:] for w in wholes]
        width = max(len(s) for s in suffixes)
        pad = self.adapter.tokenizer.pad_token_id
        ids = torch.tensor([s + [pad] * (width - len(s)) for s in suffixes], device=self.device)
        mask = torch.tensor([[1] * (prefix + len(s)) + [0] * (width - len(s)) for s in suffixes], device=self.device)
        out = self.adapter.forward_ids(ids, mask, sites=self.sites, past_key_values=cache, past_length=prefix, keep_cache=True)

        # Every answer token as one row: (answer index, suffix position predicting it, token id).
        conts = [cont for _, cont in pairs]
        which = torch.tensor([i for i, c in enumerate(conts) for _ in c], device=self.device)
        where = torch.tensor([ctx_lens[i] - 1 - prefix + t for i, c in enumerate(conts) for t in range(len(c))], device=self.device)
        y = torch.tensor([tok for c in conts for tok in c], device=self.device)
        final_logits = out.logits[which, where].float()
        logp = F.log_softmax(final_logits, dim=-1).gather(-1, y[:, None]).squeeze(-1)
        dola, picked = self._dola(out, which, where, y, final_logits)

        entropy: dict[tuple[int, bool], torch.Tensor] = {}
        for layer, norm in self.entropy_keys:
            per_answer = []
            for i, c in enumerate(conts):
                own = out.states[layer][i, : len(suffixes[i])]
                h = torch.cat([prefix_states[layer], own], 0) if layer in prefix_states else own
                per_answer.append(token_entropy(self.unembed.normed(h, norm), torch.tensor(c, device=self.device), self.unembed.weight, self.unembed.bias))
            entropy[(layer, norm)] = torch.cat(per_answer)

        per_setting = {}
        for st in self.settings:
            per_token = logp
            if st.uses_dola:
                per_token = dola[self._dola_key(st)]
            if st.uses_entropy:
                per_token = per_token - st.alpha * entropy[(resolve_layer(st.info_layer, self.n_layers), st.final_norm)]
            per_setting[st.label] = per_token.double()
        results, lo = [], 0
        for i, c in enumerate(conts):
            hi = lo + len(c)
            extras = {"dola_layers": {"+".join(map(str, k[0])): v[lo:hi] for k, v in picked.items()}} if picked else {}
            scores = {label: float(v[lo:hi].sum()) for label, v in per_setting.items()}
            results.append(AnswerScores(scores, len(c), float(logp[lo:hi].double().sum()), extras))
            lo = hi
        return results

    def _run_prefix(self, tokens: list[int]) -> tuple[dict[int, torch.Tensor], Any]:
        """States (site -> (P, d)) and KV cache of the shared prefix. The previous question's
        prefix is kept: the part both share (the few-shot primer) is not run again."""
        keep = 0
        if self._last is not None:
            keep = _common_prefix([self._last[0], tokens])
            keep = min(keep, len(tokens) - 1)  # always run at least one token
        if keep >= self.MIN_REUSE and self._last[2].is_croppable:
            cache = copy.deepcopy(self._last[2])
            cache.crop(keep - cache.get_seq_length())  # a negative count: tokens to drop
            states = {s: h[:keep] for s, h in self._last[1].items()}
        else:
            keep, cache, states = 0, None, {}
        ids = torch.tensor([tokens[keep:]], device=self.device)
        mask = torch.ones((1, len(tokens)), dtype=torch.long, device=self.device)
        out = self.adapter.forward_ids(ids, mask, sites=self.sites, past_key_values=cache, past_length=keep, last_logits_only=True, keep_cache=True)
        states = {s: torch.cat([states[s], h[0]], 0) if s in states else h[0] for s, h in out.states.items()}
        self._last = (list(tokens), states, copy.deepcopy(out.cache))
        return states, out.cache

    def _dola_key(self, st: MethodSetting) -> tuple:
        return (tuple(candidate_layers(st.layers, self.n_layers, self.unembed.tied)), st.premature_norm, st.post_softmax, st.relative_top)

    def _dola(self, out: Any, which: torch.Tensor, where: torch.Tensor, y: torch.Tensor, final_logits: torch.Tensor) -> tuple[dict, dict]:
        """DoLa's per-token contrast at ``y`` for every candidate bucket, ``ROW_CHUNK`` tokens at a time."""
        dola, picked = {}, {}
        for key in self.dola_keys:
            cands, premature_norm, post_softmax, rel_top = key
            values, layers = [], []
            for lo in range(0, len(y), self.ROW_CHUNK):
                sl = slice(lo, lo + self.ROW_CHUNK)
                rows = final_logits[sl]
                prem = torch.empty((len(cands), *rows.shape), dtype=torch.float32, device=self.device)
                for k, c in enumerate(cands):
                    prem[k] = self.adapter.unembed(out.states[c][which[sl], where[sl]], final_norm=premature_norm)
                diff, choice = dola_scores(final_logits[sl], prem, post_softmax=post_softmax)
                if rel_top > 0.0:
                    keep = relative_top_mask(F.log_softmax(final_logits[sl], dim=-1), rel_top)
                    diff = torch.where(keep, diff, torch.full_like(diff, RELATIVE_TOP_VALUE))
                values.append(diff.gather(-1, y[sl, None]).squeeze(-1))
                layers += [cands[int(c)] for c in choice]
            dola[key], picked[key] = torch.cat(values), layers
        return dola, picked


def _common_prefix(seqs: Sequence[Sequence[int]]) -> int:
    first = seqs[0]
    n = min(len(s) for s in seqs)
    for k in range(n):
        t = first[k]
        if any(s[k] != t for s in seqs):
            return k
    return n

"""Grouped-query attention on shared keys equals transformers' SDPA (which copies them per head).

Oracle: the same tiny GQA model (llama, and Gemma 3 with its sliding window) under
transformers' own "sdpa" and under ours, on masked multi-token forwards over a cache with
holes (what suffix prefills and draft checks run), padded batches, and gradients (DAS training).
"""

import copy

import pytest
import torch
from transformers import AutoModelForCausalLM

from harness.models.attention import NAME, use_packed_attention
from harness.testing import tiny_config

TOL = 1e-5


def _pair(arch):
    torch.manual_seed(0)
    ref = AutoModelForCausalLM.from_config(tiny_config(arch), attn_implementation="sdpa").eval()
    ours = copy.deepcopy(ref)
    assert use_packed_attention(ours) and ours.config._attn_implementation == NAME
    return ref, ours


@pytest.mark.parametrize("arch", ["llama", "gemma3"])
def test_masked_block_over_a_cache_with_holes_matches_sdpa(arch):
    ref, ours = _pair(arch)
    ids = torch.randint(3, 1000, (3, 80))  # past Gemma 3's window of 64
    mask = torch.ones(3, 80, dtype=torch.long)
    mask[0, :7] = 0  # left padding
    mask[1, 10:14] = 0  # a hole between a stored prefix and its suffix
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    block = torch.randint(3, 1000, (3, 5))
    block_mask = torch.cat([mask, torch.tensor([[1, 1, 1, 0, 0]] * 3)], dim=1)  # rejected drafts at the end
    block_pos = mask.sum(-1, keepdim=True) + torch.arange(5)[None]
    outs = []
    for model in (ref, ours):
        with torch.no_grad():
            first = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
            second = model(input_ids=block, attention_mask=block_mask, position_ids=block_pos, past_key_values=first.past_key_values, use_cache=True)
        outs.append((first.logits[mask.bool()], second.logits[:, :3]))  # real tokens only
    for a, b in zip(*outs):
        assert (a - b).abs().max() < TOL


def test_single_tokens_and_unmasked_forwards_take_transformers_path():
    ref, ours = _pair("llama")
    ids = torch.randint(3, 1000, (2, 12))
    with torch.no_grad():
        assert torch.equal(ref(input_ids=ids).logits, ours(input_ids=ids).logits)  # no mask: the same function runs


def test_gradients_match_sdpa():
    ref, ours = _pair("llama")
    ids = torch.randint(3, 1000, (2, 16))
    mask = torch.ones(2, 16, dtype=torch.long)
    mask[1, :5] = 0
    grads = []
    for model in (ref, ours):
        emb = model.get_input_embeddings()(ids).detach().requires_grad_(True)
        model(inputs_embeds=emb, attention_mask=mask).logits[:, -1].logsumexp(-1).sum().backward()
        grads.append(emb.grad)
    assert (grads[0] - grads[1]).abs().max() < TOL


def test_models_without_grouped_heads_are_left_alone():
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_config("llama", num_key_value_heads=4), attn_implementation="sdpa")
    assert not use_packed_attention(model) and model.config._attn_implementation == "sdpa"
    eager = AutoModelForCausalLM.from_config(tiny_config("llama"), attn_implementation="eager")
    assert not use_packed_attention(eager)
